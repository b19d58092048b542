"""Sentences spoken by the synthetic corpus.

``NEUTRAL`` sentences carry no emotion in their words, so any emotion in a dialogue comes from the
prosody. ``CONTRADICTING[cue]`` sentences say the opposite of what the manipulated prosody conveys
(reassurance spoken with a tremor, praise spoken flat and slow: the sarcasm case of section 4.6).
All sentences are short (≈ 1.5–3 s at 150–180 words per minute) so five utterances fit in ≈ 15 s.
"""

NEUTRAL: tuple[str, ...] = (
    "The meeting starts at ten tomorrow.",
    "I put the folder on the second shelf.",
    "The train leaves from platform four.",
    "We need two more chairs in this room.",
    "The report is on the table by the door.",
    "She moved the boxes to the garage.",
    "The bus stops at the corner of the street.",
    "He wrote the numbers on a small card.",
    "The kitchen light is on the left.",
    "They painted the fence last week.",
    "The store closes at six on Sundays.",
    "I will send the file this afternoon.",
    "The keys are in the top drawer.",
    "The package arrived this morning.",
    "We walked to the station after lunch.",
    "The printer is next to the window.",
    "Please write your name on the form.",
    "The library opens at nine.",
    "He parked the car behind the building.",
    "The plates go in the cupboard above the sink.",
    "I checked the schedule for next month.",
    "The garden is at the back of the house.",
    "She ordered a new lamp for the office.",
    "The river runs along the old road.",
    "We have a call with the team on Monday.",
    "The cables are in the blue box.",
    "I read the instructions twice.",
    "The clock in the hall shows noon.",
    "He carried the bags up the stairs.",
    "The class meets in room twelve.",
    "Put the cups on the tray, please.",
    "The map shows three small villages.",
    "Our flight lands at half past seven.",
    "The window faces the parking lot.",
    "The notes are in my other bag.",
    "I turned off the heater before leaving.",
    "The form has four pages.",
    "The shop sells bread and milk.",
    "We moved the desk near the wall.",
    "The door code changed yesterday.",
)

CONTRADICTING: dict[str, tuple[str, ...]] = {
    "tremor": (
        "It's fine, I just don't know what to do.",
        "Everything is under control, really.",
        "No, I'm not worried at all.",
        "I feel completely safe here.",
    ),
    "loud_burst": (
        "Honestly, I am perfectly calm about it.",
        "It doesn't bother me in the slightest.",
        "That's fine, take all the time you need.",
    ),
    "pitch_down": (
        "This is the best day of my life.",
        "I'm so happy with how it turned out.",
        "What wonderful news, I love it.",
    ),
    "sarcasm": (
        "Oh great, that's just wonderful.",
        "Well, that went really well.",
        "What a brilliant idea, thank you so much.",
        "I just love waiting in long lines.",
        "Perfect, exactly what I needed today.",
        "Sure, because that always works.",
    ),
}
