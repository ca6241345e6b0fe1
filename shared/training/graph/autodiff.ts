import { type Graph, isFloat, tensor, type Node, type Value } from './ir';
import { add, gradRule } from './ops';

/**
 * Reverse-mode differentiation of a scalar `loss` with respect to `wrt`, as new nodes in the
 * same graph. Only nodes on a path from a `wrt` value to the loss are differentiated (pruning);
 * a value used by several nodes gets the sum of their contributions (accumulation); broadcasting
 * ops reduce their gradients back to each input's shape (in their rules). Returns the gradient
 * of each `wrt` value, in order; a value the loss does not depend on gets a zero gradient.
 */
export function gradients(g: Graph, loss: Value, wrt: readonly Value[]): Value[] {
  if (loss.shape.length !== 0) throw new Error(`gradients: the loss must be a scalar, got shape [${loss.shape.join(', ')}]`);
  if (!isFloat(loss.dtype)) throw new Error('gradients: the loss must be a float');
  const forward = [...g.nodes];
  const producer = new Map<string, Node>();
  for (const n of forward) for (const o of n.outputs) producer.set(o, n);

  // Values that depend on a wrt value (forward reachability) ...
  const dependsOnWrt = new Set(wrt.map((v) => v.name));
  for (const n of forward) if (n.inputs.some((i) => dependsOnWrt.has(i)) && isFloatOutput(g, n)) for (const o of n.outputs) dependsOnWrt.add(o);
  // ... and values the loss depends on (backward reachability): the nodes to differentiate are both.
  const needed = new Set<string>([loss.name]);
  for (let i = forward.length - 1; i >= 0; i--) {
    const n = forward[i] as Node;
    if (n.outputs.some((o) => needed.has(o))) for (const input of n.inputs) needed.add(input);
  }

  const contributions = new Map<string, Value[]>();
  const push = (name: string, grad: Value) => {
    const list = contributions.get(name) ?? [];
    list.push(grad);
    contributions.set(name, list);
  };
  const total = (name: string): Value | undefined => {
    const list = contributions.get(name);
    if (!list || list.length === 0) return undefined;
    // Accumulate once and keep the sum, so later readers see one value.
    const sum = list.reduce((acc, x) => add(g, acc, x));
    contributions.set(name, [sum]);
    return sum;
  };

  push(loss.name, g.constant(tensor(loss.dtype, [], [1]), 'grad_seed'));
  for (let i = forward.length - 1; i >= 0; i--) {
    const node = forward[i] as Node;
    if (!node.outputs.some((o) => needed.has(o) && dependsOnWrt.has(o))) continue;
    const out = node.outputs[0] as string;
    const grad = total(out);
    if (!grad) continue;
    const rule = gradRule(node.op);
    if (!rule) throw new Error(`gradients: no gradient rule for ${node.op} (node ${node.name})`);
    const inputs = node.inputs.map((name) => g.value(name));
    const grads = rule({ g, node, inputs, output: g.value(out), grad });
    grads.forEach((gi, k) => {
      const input = inputs[k] as Value;
      if (gi && dependsOnWrt.has(input.name) && isFloat(input.dtype)) push(input.name, gi);
    });
  }
  return wrt.map((v) => total(v.name) ?? zerosLike(g, v));
}

function isFloatOutput(g: Graph, n: Node): boolean {
  return n.outputs.some((o) => isFloat(g.value(o).dtype));
}

function zerosLike(g: Graph, v: Value): Value {
  return g.node('Sub', [v, v], {}, [{ dtype: v.dtype, shape: v.shape }], 'zero_grad')[0] as Value;
}
