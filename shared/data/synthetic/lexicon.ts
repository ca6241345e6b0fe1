/**
 * Phrase banks for the synthetic conversation generator. Everything here was written for
 * Pixel; no real person's words. Templates use `{slot}` placeholders filled by the generator.
 */

export const TOPICS = [
  'anxiety',
  'depression',
  'relationships',
  'grief',
  'work-stress',
  'trauma',
  'sleep',
  'self-esteem',
] as const;
export type SyntheticTopic = (typeof TOPICS)[number];

export interface TopicBank {
  /** What the person brings, completing "I ..." or standing alone. */
  concerns: string[];
  /** Details a person adds when asked to say more. */
  details: string[];
  /** How the therapist names the feeling back (reflection). */
  feelings: string[];
  /** A technique that fits the topic, offered as a small next step. */
  techniques: string[];
  /** Psychoeducation: one sentence that normalises and explains. */
  psychoeducation: string[];
}

export const TOPIC_BANKS: Record<SyntheticTopic, TopicBank> = {
  anxiety: {
    concerns: [
      'my heart starts racing before every meeting',
      "I can't stop worrying that something bad will happen to my family",
      'I avoid phone calls because my mind goes blank',
      'I keep checking my symptoms online and it makes everything worse',
      'I feel tense all day and my shoulders never relax',
      'I get this tight feeling in my chest whenever I have to leave the house',
      'I replay every conversation in my head looking for mistakes',
      'my thoughts race at night about everything that could go wrong',
      'I cancelled plans with friends three times because I felt too on edge',
      'I feel dizzy and shaky in crowded places',
    ],
    details: [
      'It started around the time I changed jobs.',
      'Even small things like sending an email feel huge.',
      'My partner says I seem distracted all the time.',
      'I tell myself it is irrational but the feeling does not go away.',
      'I have been drinking more coffee to get through the day, which probably does not help.',
      'Sometimes I cannot tell if it is anxiety or if something is physically wrong.',
      'I used to enjoy going out, and now I dread it.',
    ],
    feelings: ['on edge', 'overwhelmed by worry', 'tense and watchful', 'scared of what might happen', 'exhausted from being on alert'],
    techniques: [
      'One thing that helps many people is slow breathing: in for four counts, hold for four, out for six, for a couple of minutes.',
      'When the worry spikes, you could try grounding yourself by naming five things you can see, four you can touch and three you can hear.',
      'Some people find it useful to set aside fifteen minutes a day as "worry time" and postpone worries until then.',
      'We could try writing the worry down and asking what evidence supports it and what evidence does not.',
      'Gradually approaching the situations you avoid, in small steps, tends to shrink the fear over time.',
    ],
    psychoeducation: [
      'Anxiety is the body preparing for danger, and it can fire even when there is no real threat.',
      'Avoidance brings short-term relief, which is exactly why it can make anxiety stronger over time.',
      'Physical sensations like a racing heart are uncomfortable but not dangerous in themselves.',
    ],
  },
  depression: {
    concerns: [
      "I don't enjoy anything anymore, not even the things I used to love",
      'I sleep for hours and still wake up exhausted',
      'it takes everything I have just to get out of bed',
      'I feel numb most of the day',
      "I've stopped answering messages from my friends",
      'everything feels grey and pointless lately',
      'I cry at random times and I do not know why',
      "I can't concentrate on anything long enough to finish it",
      'I have been eating much less than usual and I have no energy',
      "I feel like I'm letting everyone down",
    ],
    details: [
      'My apartment is a mess and that makes me feel worse.',
      'I used to paint every weekend and I have not touched my brushes in months.',
      'People keep telling me to cheer up, which makes me feel more alone.',
      'Mornings are the hardest part of the day.',
      'I went to work but could not focus on a single task.',
      'I keep thinking I should be able to snap out of it.',
    ],
    feelings: ['weighed down', 'drained', 'disconnected from the things that used to matter', 'hopeless about things changing', 'heavy and tired'],
    techniques: [
      'Sometimes action comes before motivation: we could pick one small, doable activity for tomorrow, like a ten-minute walk.',
      'It might help to keep a simple log of what you do each day and how it felt, to notice what lifts your mood even a little.',
      'Reaching out to one person, even with a short message, can be a manageable first step.',
      'We could break the day into smaller pieces and plan one thing that gives a sense of accomplishment.',
    ],
    psychoeducation: [
      'Low mood often drains the energy we need to do the things that would help, which can feel like a trap.',
      'Depression is common and treatable, and it is not a sign of weakness.',
      'Loss of interest and energy are symptoms, not a reflection of who you are.',
    ],
  },
  relationships: {
    concerns: [
      'my partner and I keep having the same argument over and over',
      'I feel like I do all the emotional work in my relationship',
      'my best friend has been distant and I do not know why',
      'I find it hard to say no to my family',
      'we barely talk anymore except about chores',
      'I get jealous when my partner spends time with friends',
      'my parents criticise every decision I make',
      'I moved in with my partner and we fight about money',
      "I'm not sure whether I want to stay in my marriage",
    ],
    details: [
      'When I bring it up, we both get defensive.',
      'I grew up in a house where nobody talked about feelings.',
      'I worry that if I speak up, they will leave.',
      'We used to laugh together a lot.',
      'I end up apologising even when I do not think I did anything wrong.',
      'My sister says I should just ignore it.',
    ],
    feelings: ['unheard', 'lonely even when you are together', 'caught between wanting closeness and protecting yourself', 'frustrated and hurt', 'unsure where you stand'],
    techniques: [
      'One approach is to use "I" statements: describe what happened, how you felt and what you need, without blaming.',
      'It can help to agree on a time to talk when you are both calm, rather than in the middle of an argument.',
      'Practising a short, kind boundary, like "I can\'t do that this weekend", and noticing what happens, could be a start.',
      'We could look at what each of you needs underneath the argument, since it is often not about the dishes.',
    ],
    psychoeducation: [
      'Repeated arguments often follow a pattern where each person reacts to the other\'s reaction.',
      'Boundaries are not walls; they are information about what you can and cannot do.',
      'Many couples drift into managing logistics and need to make time deliberately for connection.',
    ],
  },
  grief: {
    concerns: [
      'my mother passed away a few months ago and I still cannot accept it',
      'I lost my dog last week and people say it is just a pet',
      'my grandfather died and I never got to say goodbye',
      'it has been a year since my friend died and the anniversary is coming up',
      'I keep expecting my husband to walk through the door',
      "I feel guilty for laughing at something since my brother's funeral",
      'I lost a pregnancy and nobody talks about it',
    ],
    details: [
      'Everyone else seems to have moved on.',
      'I still have their voice messages on my phone.',
      'Some days I feel fine and then something small sets me off.',
      'I keep going over what I could have done differently.',
      'The holidays are going to be really hard.',
    ],
    feelings: ['heartbroken', 'lost without them', 'alone in your grief', 'torn between remembering and moving forward', 'raw'],
    techniques: [
      'Some people find comfort in a small ritual, like writing a letter to the person or visiting a place you shared.',
      'It may help to plan ahead for difficult dates and decide who you would like to be with.',
      'Letting yourself have both the sad moments and the lighter ones, without judging either, can make space for grief.',
    ],
    psychoeducation: [
      'Grief does not follow a straight line; it comes in waves, often when we least expect it.',
      'Feeling guilt or anger alongside sadness is a very common part of grieving.',
      'There is no timetable for grief, and loss of a pet is a real loss.',
    ],
  },
  'work-stress': {
    concerns: [
      'my workload has doubled and I am working every evening',
      'my manager criticises me in front of the team',
      'I dread Sunday nights because of the week ahead',
      'I think I am burning out but I cannot afford to take time off',
      'I was passed over for a promotion and I feel humiliated',
      'I cannot switch off from work even on holiday',
      'my team was restructured and I do not know if my job is safe',
      'this deadline is killing me and I have not slept properly in days',
    ],
    details: [
      'I answer emails at midnight because I am afraid of falling behind.',
      'I used to love this job.',
      'I snap at my kids when I get home and then feel terrible.',
      'Everyone on the team seems to cope better than me.',
      'I have had headaches almost every day this month.',
    ],
    feelings: ['stretched thin', 'undervalued', 'trapped between what is expected and what is possible', 'running on empty', 'worn down'],
    techniques: [
      'It might help to set a clear end to the working day, with a short routine that marks the switch, like a walk.',
      'We could list what is on your plate and sort it into what is urgent, what is important and what could be let go.',
      'Preparing a few specific points before talking to your manager can make that conversation feel more manageable.',
    ],
    psychoeducation: [
      'Burnout tends to build slowly from long periods of high demand and little recovery.',
      'Stress narrows our attention, which can make problems look bigger and options look fewer.',
      'Rest is not a reward for finishing everything; it is part of what lets us keep going.',
    ],
  },
  trauma: {
    concerns: [
      'I keep having flashbacks to the car accident',
      'loud noises make me jump and my heart pounds for ages',
      'I avoid the street where it happened',
      'I have nightmares about the assault most nights',
      'I feel on guard all the time since the break-in',
      'I feel disconnected from my body sometimes, like I am watching myself',
    ],
    details: [
      'It happened two years ago and I thought I was over it.',
      'I have not told anyone the full story.',
      'Certain smells bring it all back.',
      'I get angry at myself for still being affected.',
    ],
    feelings: ['unsafe even when nothing is happening', 'haunted by what happened', 'exhausted from being on alert', 'frightened by how strongly your body reacts'],
    techniques: [
      'When a flashback starts, grounding can help: press your feet into the floor and describe the room around you out loud.',
      'It may help to work with a trauma-focused therapist; approaches like EMDR or trauma-focused CBT have good evidence.',
      'We can go at your pace; you do not need to share details to make progress.',
    ],
    psychoeducation: [
      'After a frightening event, the brain can stay in alarm mode, which is why reminders trigger such strong reactions.',
      'Flashbacks and hypervigilance are common responses to trauma and they can improve with the right support.',
    ],
  },
  sleep: {
    concerns: [
      'I lie awake for hours every night',
      'I wake up at 3am and cannot get back to sleep',
      'I have been relying on sleeping pills and I want to stop',
      'my mind starts racing the moment my head hits the pillow',
      'I work night shifts and my sleep is a mess',
    ],
    details: [
      'I scroll on my phone in bed because I cannot sleep anyway.',
      'I nap in the afternoon to catch up.',
      'I am scared of another night of not sleeping.',
      'It is affecting my mood during the day.',
    ],
    feelings: ['exhausted', 'frustrated with your nights', 'anxious about bedtime', 'foggy and worn out'],
    techniques: [
      'Keeping a regular wake-up time, even at weekends, is one of the most effective steps for sleep.',
      'If you are awake for more than twenty minutes, getting up and doing something calm in dim light can help.',
      'Writing down tomorrow\'s to-do list an hour before bed can help quiet a racing mind.',
    ],
    psychoeducation: [
      'Trying hard to sleep often keeps us awake, because effort and worry are both arousing.',
      'The bed can become linked with wakefulness, and we can gradually retrain that link.',
    ],
  },
  'self-esteem': {
    concerns: [
      "I always feel like I'm not good enough",
      'I compare myself to everyone on social media',
      'I can never accept a compliment',
      'I feel like a fraud at work and that someone will find out',
      'I hate how I look in photos',
      'I put everyone else first and then resent it',
    ],
    details: [
      'My father used to say I would never amount to anything.',
      'Even when I do well, I focus on the one thing that went wrong.',
      'I apologise for everything.',
      'I know logically that I have achieved things, but it does not feel real.',
    ],
    feelings: ['not good enough', 'hard on yourself', 'invisible', 'stuck in comparison', 'ashamed'],
    techniques: [
      'One exercise is to notice the critical voice and ask what you would say to a friend in the same situation.',
      'Keeping a short list each evening of three things you handled, however small, can help balance the picture.',
      'We could look at where this inner critic first learned its lines.',
    ],
    psychoeducation: [
      'Our inner critic often repeats messages we heard early in life, and they can be unlearned.',
      'Social media shows other people\'s highlights, which makes comparison unfair by design.',
    ],
  },
};

export const DURATIONS = [
  'for about three weeks',
  'for a couple of months',
  'since the spring',
  'for most of this year',
  'since I moved to a new city',
  'since the new year',
  'for longer than I want to admit',
  'over the last few days',
  'since my birthday',
  'on and off for years',
  'since the pandemic',
  'for the past six months',
];

export const OPENERS = [
  'Hi. {Concern}, and it has been going on {duration}.',
  "I'm not sure where to start. {Concern}.",
  'Hello, I have never talked to anyone about this before. {Concern}.',
  '{Concern}. It has been like this {duration} and I am tired of it.',
  'Can I talk to you about something? {Concern}.',
  'I need some advice. {Concern} and I do not know what to do.',
  'Lately {concern}.',
  'My friend suggested I reach out. {Concern}, {duration}.',
  "I'm {age} and {concern}.",
  'It is hard to say this, but {concern}.',
];

export const REFLECTIONS = [
  'It sounds like you have been feeling {feeling}.',
  'I hear how {feeling} you have been.',
  'What you are describing sounds really hard, and it makes sense that you feel {feeling}.',
  'So, if I understand you, you have been feeling {feeling} {duration}.',
  'That sounds exhausting. Feeling {feeling} day after day takes a lot out of a person.',
];

export const VALIDATIONS = [
  'Thank you for telling me; it takes courage to put this into words.',
  'Your reaction makes a lot of sense given what you are dealing with.',
  'Many people in your situation would feel the same way.',
  'It is understandable that this is weighing on you.',
  "I'm glad you reached out about this.",
];

export const OPEN_QUESTIONS = [
  'Could you tell me more about what a typical day looks like right now?',
  'What do you notice happening just before it gets worse?',
  'What have you tried so far, and how did it go?',
  'Who in your life knows about what you are going through?',
  'What would feel like a small step in the right direction for you?',
  'When do you feel even a little bit better?',
  'How is this affecting your sleep and appetite?',
  'What would you like to be different a month from now?',
];

export const USER_FOLLOW_UPS = [
  'I guess I have not really tried anything yet.',
  'Nobody really knows, except maybe my sister.',
  'Maybe. I am willing to try.',
  'I think it gets worse when I am alone in the evenings.',
  'Honestly I just want to feel normal again.',
  'That makes sense, but it is hard to actually do it.',
  'I tried talking to my partner once but it did not go well.',
];

export const USER_CLOSINGS = [
  'Thank you, that actually helps a bit.',
  'I will try that this week.',
  'Okay. It helps to hear that it is common.',
  'I did not think of it that way before.',
  'Thanks for listening.',
];

export const ASSISTANT_CLOSINGS = [
  'You are welcome. Be patient with yourself as you try it, and we can talk about how it went.',
  'That sounds like a good plan. If things get harder, please reach out for support.',
  'I am glad it helped. Small steps count, and you do not have to do this alone.',
  'Take care of yourself this week. Noticing what helps, even a little, is real progress.',
];

export const SYSTEM_PROMPTS = [
  'You are a supportive, non-judgemental mental-health assistant. Listen carefully, reflect feelings, ask open questions, and encourage professional help when appropriate. You do not diagnose or prescribe.',
  'You are a warm counselling assistant trained in evidence-based techniques. Prioritise the user\'s safety; if there is any risk of harm, provide crisis resources and encourage contacting a human professional.',
  'You provide emotional support in the style of a licensed therapist: validate, reflect, explore gently and suggest small, practical steps.',
];

export const CRISIS_TYPES = [
  'suicidal_ideation',
  'self_harm',
  'psychosis',
  'violence',
  'substance_abuse',
  'severe_depression',
  'panic',
] as const;
export type CrisisType = (typeof CRISIS_TYPES)[number];

export const CRISIS_SEVERITIES = ['low', 'moderate', 'high', 'imminent'] as const;
export type CrisisSeverity = (typeof CRISIS_SEVERITIES)[number];

/**
 * Crisis disclosures by type and severity, following the Columbia scale's ladder for suicide
 * risk (wish to be dead, active thoughts, method and intent, plan or preparation). Worded
 * plainly, without method detail.
 */
export const CRISIS_STATEMENTS: Record<CrisisType, Record<CrisisSeverity, string[]>> = {
  suicidal_ideation: {
    low: [
      'Sometimes I wish I could go to sleep and not wake up.',
      'Lately I have been thinking everyone would be better off without me.',
      'Part of me wishes I just was not here anymore.',
    ],
    moderate: [
      'I have been having thoughts about killing myself.',
      'I keep thinking about ending my life, even though I have not done anything.',
      'The thought of suicide keeps coming back, most days now.',
    ],
    high: [
      'I have been thinking about how I would kill myself, and I think I would actually do it.',
      'I have started looking up ways to end my life.',
      'I know how I would do it, and the thoughts are getting stronger.',
    ],
    imminent: [
      'I have decided to end my life tonight and I have everything I need.',
      'I wrote goodbye letters today. I do not plan to be here tomorrow.',
      'I am going to kill myself this weekend, I have a plan.',
    ],
  },
  self_harm: {
    low: [
      'I sometimes get the urge to hurt myself when I am upset, but I have not acted on it.',
      'When it gets bad I think about hurting myself just to feel something else.',
    ],
    moderate: [
      'I have been cutting myself again when things get overwhelming.',
      'I hurt myself last week and I am scared of how often I think about it.',
    ],
    high: [
      'I have been hurting myself almost every day and the cuts are getting deeper.',
      'I burned myself on purpose yesterday and I cannot stop thinking about doing it again.',
    ],
    imminent: [
      'I am about to hurt myself right now, I have the blade next to me.',
      'I cannot stop myself tonight, I am going to cut again as soon as everyone is asleep.',
    ],
  },
  psychosis: {
    low: [
      'Sometimes I feel like people on the street are looking at me in a strange way.',
      'I have been hearing faint whispers when the room is quiet.',
    ],
    moderate: [
      'I hear voices that comment on everything I do.',
      'I am convinced my neighbours are recording me through the walls.',
    ],
    high: [
      'The voices are telling me I have to punish myself and they are getting louder.',
      'I have not slept in four days and I know the government put something in my head.',
    ],
    imminent: [
      'The voices are telling me to jump and I do not think I can resist them much longer.',
      'They are coming for me tonight and I have to do something before they get here.',
    ],
  },
  violence: {
    low: [
      'I get so angry at my brother that I imagine hitting him.',
      'Sometimes I fantasise about getting back at my boss.',
    ],
    moderate: [
      'I have been having thoughts about hurting my ex and it scares me.',
      'I punched a wall yesterday and I am worried next time it will be a person.',
    ],
    high: [
      'I want to hurt my roommate and I have thought about how I would do it.',
      'I bought a knife because I am thinking of using it on the person who hurt me.',
    ],
    imminent: [
      'I am going to hurt him tonight when he gets home.',
      'I am on my way to confront them and I am going to make them pay.',
    ],
  },
  substance_abuse: {
    low: [
      'I have been drinking a bit more than usual to relax in the evenings.',
      'I use weed most nights to get to sleep.',
    ],
    moderate: [
      'I drink until I black out most weekends now.',
      'I have been taking more of my pain pills than prescribed to get through the day.',
    ],
    high: [
      'I cannot go a day without drinking and I get the shakes in the morning.',
      'I have been mixing pills and alcohol and I do not really care what happens.',
    ],
    imminent: [
      'I have taken a lot of pills with vodka tonight and I feel really strange.',
      'I just used way more than usual and I think I overdid it.',
    ],
  },
  severe_depression: {
    low: [
      'I feel empty almost all the time.',
      'Nothing has felt worth doing for weeks.',
    ],
    moderate: [
      'I have not left my bed in three days and I have stopped eating.',
      'I feel completely hopeless, like nothing will ever get better.',
    ],
    high: [
      'I feel hopeless and trapped and I cannot see any way out of this.',
      'I have given away some of my things because I do not see a future for myself.',
    ],
    imminent: [
      'I cannot see any way out and I do not think I can hold on through tonight.',
      'I have given up. I am saying goodbye to the people I care about today.',
    ],
  },
  panic: {
    low: [
      'I had a moment earlier where I could not catch my breath, it passed after a while.',
      'I sometimes feel a wave of panic out of nowhere.',
    ],
    moderate: [
      'I have panic attacks several times a week and I am scared to go out.',
      'My chest gets so tight during the attacks that I think I am dying.',
    ],
    high: [
      'I am having a panic attack right now and I cannot breathe properly.',
      'The panic attacks are constant and I have started thinking I cannot live like this.',
    ],
    imminent: [
      'I am having the worst panic attack of my life right now, my chest hurts and my arm is numb.',
      'I cannot breathe and I feel like I am going to pass out right now.',
    ],
  },
};

/** Protective factors a person in crisis sometimes mentions. */
export const PROTECTIVE_FACTORS = [
  'I would never want my kids to find me like that, though.',
  'My sister checks on me every day.',
  'I still have my appointment with my doctor next week.',
  'I do not want to hurt my mum.',
  'My dog needs me.',
];

export const CRISIS_ACKNOWLEDGEMENTS = [
  'Thank you for telling me. I can hear how much pain you are in right now, and I am taking what you said seriously.',
  'I am really glad you told me this. What you are going through sounds incredibly hard, and you do not have to face it alone.',
  'I am so sorry you are feeling this way. I want to make sure you are safe.',
];

export const SAFETY_ASSESSMENTS = [
  'Are you safe right now?',
  'Are you in a safe place at the moment, and is anyone with you?',
  'Have you done anything to hurt yourself today, or do you have a plan to?',
];

export const CRISIS_RESOURCES = [
  'If you are in the US, you can call or text 988 to reach the Suicide & Crisis Lifeline at any time. If you are elsewhere, please contact your local crisis line.',
  'Please call or text 988 (the Suicide & Crisis Lifeline in the US) or your local emergency number; they are there 24 hours a day.',
  'You can reach a trained crisis counsellor right now by calling or texting 988 in the US, or through your local crisis line.',
];

export const IMMINENT_RESOURCES = [
  'Because you are in immediate danger, please call 911 or your local emergency number now, or go to the nearest emergency room.',
  'This is an emergency: please call 911 or your local emergency number right now, or ask someone near you to call for you.',
];

export const HUMAN_HELP = [
  'Is there someone you trust, a friend or family member, who could be with you now?',
  'I would really encourage you to talk to a doctor or a mental-health professional about this as soon as you can.',
  'Could you reach out to someone close to you and let them know how you are feeling?',
];

/** Everyday phrases that contain crisis words but no risk: hard negatives for the safety stage. */
export const HARD_NEGATIVES: { text: string; kind: 'idiom' | 'negation' | 'third_person' | 'past_resolved' }[] = [
  { text: 'This commute is killing me.', kind: 'idiom' },
  { text: 'I nearly died of embarrassment in that meeting.', kind: 'idiom' },
  { text: 'I would never hurt myself, I just feel stuck.', kind: 'negation' },
  { text: 'My friend said she wanted to die after the breakup, and I did not know what to say to her.', kind: 'third_person' },
  { text: 'Years ago I went through a period of self-harm, but I have been well for a long time now.', kind: 'past_resolved' },
  { text: 'I could murder a pizza right now, honestly.', kind: 'idiom' },
];

export const FIRST_NAMES = [
  'Alex', 'Maria', 'James', 'Aisha', 'Wei', 'Sofia', 'Daniel', 'Priya', 'Omar', 'Emma', 'Lucas', 'Fatima',
  'Noah', 'Yuki', 'Mateo', 'Grace', 'Kwame', 'Elena', 'Hannah', 'Ravi', 'Chloe', 'Diego', 'Amara', 'Liam',
];
export const LAST_NAMES = [
  'Johnson', 'Garcia', 'Nguyen', 'Okafor', 'Kowalski', 'Haddad', 'Smith', 'Fernandez', 'Chen', 'Patel',
  'Müller', 'Rossi', 'Kim', 'Adeyemi', 'Larsen', 'Silva', 'Brown', 'Cohen', 'Tanaka', 'Novak',
];
export const STREETS = ['Maple', 'Oak', 'Cedar', 'Elm', 'Lake', 'Hill', 'Park', 'Washington', 'Lincoln', 'Pine', 'Sunset', 'River'];
export const STREET_SUFFIXES = ['Street', 'Avenue', 'Road', 'Lane', 'Drive', 'Court', 'Boulevard'];
export const CITIES = [
  'Springfield, IL', 'Portland, OR', 'Austin, TX', 'Columbus, OH', 'Madison, WI', 'Tucson, AZ', 'Raleigh, NC',
  'Boise, ID', 'Albany, NY', 'Richmond, VA',
];
export const MONTHS = [
  'January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December',
];
export const US_AREA_CODES = ['212', '312', '415', '503', '512', '617', '702', '720', '804', '919', '206', '305'];
