// The reviewers' page: plain DOM, no framework, no inline scripts (the server's CSP forbids
// them). Every text from the server goes in through textContent, never as markup.

const RUBRIC = [
  { field: 'clinicalAccuracy', name: 'Clinical accuracy' },
  { field: 'empathy', name: 'Empathy' },
  { field: 'safety', name: 'Safety' },
];
const SCALE_WORDS = { 1: 'poor', 5: 'excellent' };
const SPEAKERS = { user: 'Person seeking support', assistant: 'Supporter', system: 'Instructions' };
const SCENARIO_NAMES = { work_stress: 'work stress' };

const $ = (id) => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing #${id}`);
  return el;
};

/** A server answer that was not 2xx, with the server's own message. */
class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** Reads (GET) that meet a busy review (502) or registry (503) are tried again after 1 and 2 s. */
const READ_RETRY_DELAYS_MS = [1000, 2000];

async function api(path, options = {}) {
  const read = (options.method ?? 'GET') === 'GET';
  let res;
  for (let attempt = 0; ; attempt++) {
    res = await fetch(path, {
      credentials: 'same-origin',
      headers: { Accept: 'application/json', ...(options.body ? { 'Content-Type': 'application/json' } : {}) },
      ...options,
    });
    if (!read || (res.status !== 502 && res.status !== 503) || attempt >= READ_RETRY_DELAYS_MS.length) break;
    await new Promise((resolve) => setTimeout(resolve, READ_RETRY_DELAYS_MS[attempt]));
  }
  let body = null;
  try {
    body = await res.json();
  } catch {
    body = null;
  }
  if (!res.ok) throw new ApiError(res.status, body && typeof body.error === 'string' ? body.error : `the server answered ${res.status}`);
  return body;
}

const state = { me: null, assignments: [], current: null, item: null, loadSeq: 0, submitting: false };

function el(tag, options = {}, children = []) {
  const node = document.createElement(tag);
  if (options.className) node.className = options.className;
  if (options.text !== undefined) node.textContent = options.text;
  for (const [k, v] of Object.entries(options.attrs ?? {})) node.setAttribute(k, v);
  for (const child of children) node.append(child);
  return node;
}

function scenarioName(s) {
  return SCENARIO_NAMES[s] ?? String(s ?? '').replace(/_/g, ' ');
}

function itemHash(workflowId, itemId) {
  return `#/review/${encodeURIComponent(workflowId)}/${encodeURIComponent(itemId)}`;
}

function parseHash() {
  const m = /^#\/review\/([^/]+)\/([^/]+)$/.exec(location.hash);
  if (!m) return null;
  try {
    return { workflowId: decodeURIComponent(m[1]), itemId: decodeURIComponent(m[2]) };
  } catch {
    return null;
  }
}

function formatDate(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

// ---- status region -------------------------------------------------------------------------

function setStatus(message, kind = 'info', focus = false) {
  const region = $('form-status');
  region.className = `form-status ${kind}`;
  region.textContent = message;
  if (focus) region.focus();
}

// ---- rubric ----------------------------------------------------------------------------------

function buildRubric() {
  for (const fieldset of document.querySelectorAll('fieldset.rubric')) {
    const field = fieldset.dataset.field;
    const scale = fieldset.querySelector('.scale');
    for (let n = 1; n <= 5; n++) {
      const id = `${field}-${n}`;
      const input = el('input', { attrs: { type: 'radio', name: field, value: String(n), id } });
      const label = el('label', { attrs: { for: id } }, [el('span', { className: 'score', text: String(n) })]);
      if (SCALE_WORDS[n]) label.append(el('span', { className: 'score-word', text: ` ${SCALE_WORDS[n]}` }));
      scale.append(el('span', { className: 'scale-choice' }, [input, label]));
    }
  }
}

function resetForm(done) {
  const form = $('review-form');
  form.reset();
  for (const input of form.querySelectorAll('input, textarea, button')) input.disabled = done;
  $('done-note').hidden = !done;
  $('submit').hidden = done;
  updateCount();
}

function updateCount() {
  const n = $('comment').value.length;
  $('comment-count').textContent = `${n} of 4000 characters.`;
}

// ---- sign-in and assignments ------------------------------------------------------------------

async function loadMe() {
  try {
    state.me = await api('/api/me');
    $('me').textContent = `Signed in as ${state.me.name} (${state.me.reviewerId})`;
    $('logout-form').hidden = false;
    return true;
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      $('me').textContent = 'Not signed in';
      $('signin').hidden = false;
      $('welcome').hidden = true;
      $('item').hidden = true;
      $('assignments-nav').hidden = true;
      return false;
    }
    $('me').textContent = `Cannot reach the review server: ${err.message}`;
    return false;
  }
}

async function loadAssignments() {
  const summary = $('assignments-summary');
  summary.textContent = 'Loading…';
  try {
    state.assignments = await api('/api/assignments');
  } catch (err) {
    summary.textContent = `Could not load your assignments: ${err.message}`;
    return;
  }
  renderAssignments();
}

function renderAssignments() {
  const list = $('assignments');
  list.replaceChildren();
  const open = state.assignments.filter((a) => !a.done).length;
  const done = state.assignments.length - open;
  $('assignments-summary').textContent = state.assignments.length === 0 ? 'Nothing assigned to you right now.' : `${open} open, ${done} done.`;
  for (const a of state.assignments) {
    const link = el('a', { attrs: { href: itemHash(a.workflowId, a.itemId) }, className: 'assignment-link' });
    if (a.crisis) link.append(el('span', { className: 'badge crisis', text: 'Crisis' }), ' ');
    link.append(el('span', { className: 'item-id', text: a.itemId }));
    link.append(el('span', { className: 'assignment-meta', text: ` ${scenarioName(a.scenario)} · ${a.done ? 'done' : 'open'}` }));
    const current = state.current && state.current.workflowId === a.workflowId && state.current.itemId === a.itemId;
    if (current) link.setAttribute('aria-current', 'true');
    const li = el('li', { className: `assignment${a.done ? ' done' : ''}${a.crisis ? ' is-crisis' : ''}` }, [link]);
    li.append(el('span', { className: 'assignment-review muted', text: `Review ${a.reviewId}, due ${formatDate(a.deadlineAt)}` }));
    list.append(li);
  }
}

// ---- one item ----------------------------------------------------------------------------------

async function openItem(target, { focus = true } = {}) {
  const seq = ++state.loadSeq;
  state.current = target;
  renderAssignments();
  $('welcome').hidden = true;
  $('item').hidden = false;
  $('item').setAttribute('aria-busy', 'true');
  // Nothing of the previous item stays on screen while this one loads.
  clearItem();
  $('item-heading').textContent = `Item ${target.itemId}`;
  $('item-meta').textContent = 'Loading…';
  setStatus('');
  let item;
  try {
    item = await api(`/api/reviews/${encodeURIComponent(target.workflowId)}/items/${encodeURIComponent(target.itemId)}`);
  } catch (err) {
    if (seq !== state.loadSeq) return;
    $('item').removeAttribute('aria-busy');
    clearItem();
    setStatus(`Could not open item ${target.itemId}: ${err.message}`, 'error', true);
    return;
  }
  if (seq !== state.loadSeq) return;
  state.item = item;
  renderItem(item);
  $('item').removeAttribute('aria-busy');
  if (focus) $('item-heading').focus();
}

function clearItem() {
  state.item = null;
  for (const id of ['item-meta', 'conversation', 'candidate-response', 'baseline-response', 'auto-scores', 'reference']) $(id).replaceChildren();
  $('crisis-banner').hidden = true;
  $('reference-section').hidden = true;
  resetForm(true);
  $('done-note').hidden = true;
}

function renderItem(item) {
  $('item-heading').textContent = `Item ${item.itemId}${item.crisis ? ' (crisis)' : ''}`;
  $('item-meta').textContent =
    `Scenario: ${scenarioName(item.scenario)} · review ${item.reviewId} · due ${formatDate(item.deadlineAt)}${item.reviewStatus !== 'open' ? ` · this review is ${item.reviewStatus}` : ''}`;

  const banner = $('crisis-banner');
  banner.hidden = !item.crisis;
  const detail = item.crisisDetail;
  $('crisis-detail').textContent = detail
    ? `Severity ${detail.severity ?? 'unknown'}${detail.types && detail.types.length ? `; ${detail.types.map((t) => String(t).replace(/_/g, ' ')).join(', ')}` : ''}; protocol: ${String(detail.protocol ?? 'unknown').replace(/_/g, ' ')}.`
    : '';

  const conversation = $('conversation');
  conversation.replaceChildren();
  for (const m of item.messages) {
    const speaker = SPEAKERS[m.role] ?? m.role;
    conversation.append(
      el('li', { className: `turn ${m.role === 'user' ? 'user' : m.role === 'assistant' ? 'assistant' : 'other'}` }, [
        el('p', { className: 'speaker', text: speaker }),
        el('p', { className: 'text-block', text: m.content }),
      ]),
    );
  }

  $('reference-section').hidden = !item.reference;
  $('reference').textContent = item.reference ?? '';

  $('candidate-response').textContent = item.candidate.response || '(empty reply)';
  $('baseline-response').textContent = item.baseline ? item.baseline.response || '(empty reply)' : 'No reply from a previous model for this item.';

  const scores = $('auto-scores');
  scores.replaceChildren();
  const c = item.candidate;
  const entries = [
    [
      'Safety check',
      c.safety.pass === null
        ? 'not run'
        : c.safety.pass
          ? 'passed'
          : `failed${c.safety.failures.length ? `: ${c.safety.failures.map(describeFailure).join('; ')}` : ''}`,
    ],
    ['Empathy', formatScore(c.empathy)],
    ['Clinical appropriateness', formatScore(c.clinical)],
  ];
  for (const [term, value] of entries) scores.append(el('div', {}, [el('dt', { text: term }), el('dd', { text: value })]));

  resetForm(item.done || item.reviewStatus !== 'open');
  if (!item.done && item.reviewStatus !== 'open') {
    $('done-note').hidden = false;
    $('done-note').textContent = `This review is ${item.reviewStatus}; it takes no more scores.`;
  } else {
    $('done-note').textContent = 'You have reviewed this item. Thank you.';
  }
}

function describeFailure(f) {
  if (typeof f === 'string') return f;
  if (f && typeof f === 'object') return String(f.reason ?? f.check ?? f.category ?? f.name ?? JSON.stringify(f));
  return String(f);
}

function formatScore(v) {
  return typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(2)) : 'not scored';
}

// ---- submitting -----------------------------------------------------------------------------------

function readForm() {
  const form = $('review-form');
  const scores = {};
  for (const { field, name } of RUBRIC) {
    const chosen = form.querySelector(`input[name="${field}"]:checked`);
    if (!chosen) return { missing: name, focus: form.querySelector(`input[name="${field}"]`) };
    scores[field] = Number(chosen.value);
  }
  const label = form.querySelector('input[name="safetyLabel"]:checked');
  if (!label) return { missing: 'Safety label', focus: form.querySelector('input[name="safetyLabel"]') };
  return { body: { scores, safetyLabel: label.value, comment: $('comment').value } };
}

async function submitReview(event) {
  event.preventDefault();
  if (state.submitting || !state.current || !state.item) return;
  const read = readForm();
  if (!read.body) {
    setStatus(`Choose a value for ${read.missing}.`, 'error');
    read.focus?.focus();
    return;
  }
  const target = state.current;
  state.submitting = true;
  const button = $('submit');
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  setStatus('Sending your review…');
  try {
    await api(`/api/reviews/${encodeURIComponent(target.workflowId)}/items/${encodeURIComponent(target.itemId)}`, {
      method: 'POST',
      body: JSON.stringify(read.body),
    });
    state.item.done = true;
    resetForm(true);
    setStatus(`Review of item ${target.itemId} recorded. Thank you. Choose your next item from your assignments.`, 'success', true);
    await loadAssignments();
  } catch (err) {
    button.disabled = false;
    setStatus(`Not recorded: ${err.message}`, 'error', true);
  } finally {
    state.submitting = false;
    button.removeAttribute('aria-busy');
  }
}

// ---- start -------------------------------------------------------------------------------------------

function route({ focus = true } = {}) {
  const target = parseHash();
  if (target) {
    void openItem(target, { focus });
  } else {
    state.current = null;
    state.loadSeq++;
    $('item').hidden = true;
    $('welcome').hidden = false;
    renderAssignments();
  }
}

async function start() {
  buildRubric();
  $('review-form').addEventListener('submit', (e) => void submitReview(e));
  $('comment').addEventListener('input', updateCount);
  $('refresh').addEventListener('click', () => void loadAssignments());
  window.addEventListener('hashchange', () => route());
  if (!(await loadMe())) {
    $('signin-heading').focus();
    return;
  }
  await loadAssignments();
  route({ focus: false });
  document.body.dataset.ready = 'true';
}

void start();
