"""Generated English training corpus for the embedded model.

The text comes from a small seeded grammar of children's stories and chat dialogues, so
the corpus is original (no licence questions) and a few-million-parameter model trained on
it for half an hour writes sentences a reader recognises. `generate(seed, n)` is a pure
function of its arguments: the same seed gives the same documents on every machine.

Run directly to print a sample:  /usr/bin/python3 corpus.py --sample 5
"""

import argparse
import random

END_OF_TEXT = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"

# (kind, sound, pronoun set). Pronouns are chosen per character, not per kind.
ANIMALS = [
    ("cat", "meow"), ("dog", "woof"), ("cow", "moo"), ("duck", "quack"),
    ("sheep", "baa"), ("pig", "oink"), ("horse", "neigh"), ("frog", "ribbit"),
    ("owl", "hoot"), ("mouse", "squeak"), ("lion", "roar"), ("bird", "tweet"),
    ("bee", "buzz"), ("goat", "maa"), ("hen", "cluck"), ("bear", "growl"),
]
PEOPLE = ["girl", "boy"]
NAMES_SHE = ["Lily", "Mia", "Anna", "Sara", "Emma", "Lucy", "Zoe", "Ruby", "Ella", "Nora", "Amy", "Rosa"]
NAMES_HE = ["Tom", "Max", "Ben", "Sam", "Leo", "Jack", "Tim", "Noah", "Finn", "Oscar", "Hugo", "Dan"]
ADJECTIVES = ["little", "happy", "small", "brave", "kind", "curious", "sleepy", "funny", "shy", "clever", "big", "gentle"]
PLACES = [
    "a small house near the forest", "a big red barn", "a quiet village by the sea",
    "a cozy house in the town", "a little farm on a hill", "a tall tree in the park",
    "a warm house with a green door", "a busy street in the city",
]
ACTIVITIES = [
    "play in the garden", "run in the park", "read books", "sing songs", "dance in the rain",
    "look at the stars", "draw pictures", "jump in the puddles", "build towers with blocks",
    "walk by the river", "eat apples", "climb trees",
]
GAMES = ["played", "ran", "laughed", "danced", "had fun"]
COLORS = ["red", "blue", "green", "yellow", "pink", "purple", "orange", "white", "black", "brown"]
OBJECTS = [
    "ball", "kite", "box", "hat", "boat", "book", "cup", "flower", "key", "shell",
    "drum", "bike", "balloon", "blanket", "stone", "leaf",
]
SPOTS = [
    "under a big tree", "next to the pond", "in the tall grass", "behind the house",
    "on the path", "near the old fence", "by the river", "in the sand",
]
EXCLAMATIONS = ["Wow", "Look", "Oh", "Yay", "Oh my"]
FEELINGS = ["happy", "sad", "scared", "tired", "excited", "hungry", "proud", "surprised"]
ENDINGS = [
    "From that day on, they were best friends.",
    "They went home with big smiles on their faces.",
    "It was the best day ever.",
    "At night, {name} went to sleep and dreamed about the {object}.",
    "{name} learned that sharing makes everyone happy.",
    "And they all lived happily ever after.",
]
PROBLEMS = [
    ("the {object} fell into the river", "{friend} used a long stick to get it back"),
    ("the wind took the {object} up into a tree", "{friend} climbed the tree and brought it down"),
    ("it started to rain", "they hid under a big umbrella until the sun came out"),
    ("the {object} broke into two pieces", "{friend} helped fix it with some glue"),
    ("{name} got lost on the way home", "{friend} showed the way back"),
    ("a big dog ran after them", "they said stop, and the dog sat down and wagged its tail"),
]
FACTS = [
    ("What color is the sky?", "The sky is blue on a sunny day."),
    ("What color is the grass?", "The grass is green."),
    ("What color is the sun?", "The sun is yellow and very bright."),
    ("What color is snow?", "Snow is white and cold."),
    ("Where do fish live?", "Fish live in the water, in rivers, lakes and the sea."),
    ("Where do birds live?", "Birds live in nests in the trees."),
    ("What do cows eat?", "Cows eat grass."),
    ("What do bees make?", "Bees make honey."),
    ("When do we sleep?", "We sleep at night, when it is dark."),
    ("How many legs does a dog have?", "A dog has four legs."),
    ("How many legs does a bird have?", "A bird has two legs."),
    ("What is the moon?", "The moon is a big round rock in the sky. We see it at night."),
    ("Why is it dark at night?", "It is dark at night because the sun is on the other side of the world."),
    ("What is rain?", "Rain is water that falls from the clouds."),
]
GREETINGS_IN = ["Hello!", "Hi!", "Hello", "Hi there!", "Good morning!", "Hey!"]
GREETINGS_OUT = [
    "Hello! How can I help you today?",
    "Hi! It is nice to meet you. What would you like to talk about?",
    "Hello! I can tell you a story or answer a simple question.",
]
WHO_IN = ["Who are you?", "What are you?", "What is your name?", "Tell me about yourself."]
WHO_OUT = [
    "I am a tiny language model that lives inside inferkit. I know short stories and simple facts.",
    "I am inferkit's small built-in model. I was trained on short stories, so I like to tell them.",
]
THANKS_IN = ["Thank you!", "Thanks!", "Thank you very much."]
THANKS_OUT = ["You are welcome!", "You are welcome. Have a nice day!"]
STORY_ASK = [
    "Tell me a story about {a_kind}.", "Can you tell me a story about {a_kind}?",
    "Write a short story about {a_kind}.", "Please tell me a story about {a_kind}.",
    "I want a story about {a_kind}.",
]
SYSTEM_PROMPTS = ["You are a helpful assistant.", "You are a friendly assistant who tells short stories."]


def _article(word):
    return ("an " if word[0] in "aeiou" else "a ") + word


class _Character:
    def __init__(self, rng, kind=None):
        self.she = rng.random() < 0.5
        self.name = rng.choice(NAMES_SHE if self.she else NAMES_HE)
        if kind is None:
            kind = rng.choice([a[0] for a in ANIMALS] + PEOPLE)
        if kind in PEOPLE:
            kind = "girl" if self.she else "boy"
        self.kind = kind
        self.sub = "she" if self.she else "he"
        self.pos = "her" if self.she else "his"
        self.obj = "her" if self.she else "him"


def _cap(s):
    return s[0].upper() + s[1:]


def story(rng, kind=None):
    hero = _Character(rng, kind)
    friend = _Character(rng)
    while friend.name == hero.name:
        friend = _Character(rng)
    adj = rng.choice(ADJECTIVES)
    color = rng.choice(COLORS)
    obj = rng.choice(OBJECTS)
    fill = {"name": hero.name, "friend": friend.name, "object": obj}
    friend_desc = _article(friend.kind) if rng.random() < 0.5 else f"{_article(rng.choice(ADJECTIVES))} {friend.kind}"
    parts = []
    opening = rng.choice([
        f"Once upon a time, there was {_article(adj)} {hero.kind} named {hero.name}.",
        f"Once upon a time, {_article(adj)} {hero.kind} named {hero.name} lived in {rng.choice(PLACES)}.",
        f"One day, {_article(adj)} {hero.kind} named {hero.name} woke up early.",
        f"There was once {_article(adj)} {hero.kind} called {hero.name}.",
    ])
    parts.append(opening)
    if "lived in" not in opening:
        parts.append(f"{_cap(hero.sub)} lived in {rng.choice(PLACES)}.")
    parts.append(f"Every day, {hero.sub} liked to {rng.choice(ACTIVITIES)}.")
    parts.append(f"One day, {hero.name} found {_article(color)} {obj} {rng.choice(SPOTS)}.")
    parts.append(f"\"{rng.choice(EXCLAMATIONS)}, {_article(color)} {obj}!\" said {hero.name}. {_cap(hero.sub)} was very {rng.choice(['happy', 'excited', 'surprised'])}.")
    parts.append(f"{hero.name} wanted to show the {obj} to {pos_friend(hero)} friend {friend.name}, {friend_desc}.")
    if rng.random() < 0.6:
        problem, fix = rng.choice(PROBLEMS)
        parts.append(f"But then {problem.format(**fill)}. {hero.name} felt {rng.choice(['sad', 'scared', 'worried'])}.")
        parts.append(f"\"Do not worry,\" said {friend.name}. \"I will help you.\" Then {fix.format(**fill)}.")
        parts.append(f"\"Thank you, {friend.name}!\" said {hero.name}.")
    else:
        parts.append(f"\"Can we play with it?\" asked {friend.name}. \"Yes, of course!\" said {hero.name}.")
        parts.append(f"They {rng.choice(GAMES)} with the {obj} together all afternoon.")
    parts.append(rng.choice(ENDINGS).format(**fill))
    return " ".join(parts), hero


def pos_friend(hero):
    return hero.pos


def dialogue(rng):
    a = _Character(rng, kind=rng.choice(PEOPLE))
    b = _Character(rng, kind=rng.choice(PEOPLE))
    while b.name == a.name:
        b = _Character(rng, kind=rng.choice(PEOPLE))
    obj = rng.choice(OBJECTS)
    color = rng.choice(COLORS)
    feeling = rng.choice(FEELINGS)
    lines = [
        f"{a.name}: Hi {b.name}! How are you today?",
        f"{b.name}: I am {feeling}. I lost my {color} {obj}.",
        f"{a.name}: Oh no! Where did you see it last?",
        f"{b.name}: I think it was {rng.choice(SPOTS)}.",
        f"{a.name}: Let us go and look together.",
        f"{b.name}: Thank you, {a.name}. You are a good friend.",
    ]
    if rng.random() < 0.5:
        lines.append(f"{a.name}: Look, here it is!")
        lines.append(f"{b.name}: Yay! Now I am happy again.")
    return "\n".join(lines)


def _chat(turns, system=None):
    out = []
    if system is not None:
        out.append(f"{IM_START}system\n{system}{IM_END}\n")
    for role, text in turns:
        out.append(f"{IM_START}{role}\n{text}{IM_END}\n")
    return "".join(out)


def chat(rng):
    system = rng.choice(SYSTEM_PROMPTS) if rng.random() < 0.3 else None
    r = rng.random()
    if r < 0.55:
        kind = rng.choice([a[0] for a in ANIMALS] + PEOPLE)
        ask = rng.choice(STORY_ASK).format(a_kind=_article(kind))
        text, _ = story(rng, kind)
        return _chat([("user", ask), ("assistant", text)], system)
    if r < 0.70:
        q, a = rng.choice(FACTS)
        return _chat([("user", q), ("assistant", a)], system)
    if r < 0.80:
        kind, sound = rng.choice(ANIMALS)
        q = rng.choice([f"What does {_article(kind)} say?", f"What sound does {_article(kind)} make?"])
        return _chat([("user", q), ("assistant", f"{_cap(_article(kind))} says {sound}!")], system)
    if r < 0.90:
        turns = [("user", rng.choice(GREETINGS_IN)), ("assistant", rng.choice(GREETINGS_OUT))]
        if rng.random() < 0.5:
            turns += [("user", rng.choice(WHO_IN)), ("assistant", rng.choice(WHO_OUT))]
        return _chat(turns, system)
    turns = [("user", rng.choice(WHO_IN)), ("assistant", rng.choice(WHO_OUT))]
    if rng.random() < 0.5:
        turns += [("user", rng.choice(THANKS_IN)), ("assistant", rng.choice(THANKS_OUT))]
    return _chat(turns, system)


def document(rng):
    r = rng.random()
    if r < 0.45:
        return story(rng)[0]
    if r < 0.55:
        return dialogue(rng)
    return chat(rng)


def generate(seed, n):
    """Returns n documents, each ending with the end-of-text token."""
    rng = random.Random(seed)
    return [document(rng) + END_OF_TEXT for _ in range(n)]


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--sample", type=int, default=5)
    args = p.parse_args()
    for d in generate(args.seed, args.sample):
        print(d)
        print()
