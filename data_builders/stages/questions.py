"""Question and short-answer templates for the stage conversations (many, so no single prompt is learned).

Templates name no place; answers take their location words from ``data_builders.explain`` (which uses
``xforge.location``). ``{seg}`` marks where the mask token goes.
"""

from __future__ import annotations

# Stage 1: segmentation prompts (LISA-style) and their answers.
SEGMENT = (
    "Segment the tampered region.",
    "Please segment the edited area in this image.",
    "Can you segment the manipulated part of this picture?",
    "Give me a mask of the forged region.",
    "Where is the tampered area? Please output the segmentation mask.",
    "Highlight the region that was altered.",
    "Mark the manipulated pixels.",
    "Output a mask for the part of the image that was edited.",
    "Which pixels were tampered with? Segment them.",
    "Show me the forged region as a mask.",
    "Segment whatever was changed in this photo.",
    "Please locate and segment the doctored region.",
)
SEGMENT_ANSWERS = (
    "It is {seg}.",
    "Sure, {seg}.",
    "Sure, it is {seg}.",
    "Here is the edited region: {seg}.",
    "The tampered region is {seg}.",
    "{seg}",
    "Sure, the manipulated area is {seg}.",
)
SEGMENT_SOURCE = (
    "Segment only the pasted piece in the {where}.",
    "Give me the mask of the inserted region in the {where}.",
    "Which pixels belong to the spliced piece in the {where}? Segment them.",
    "Mask just the pasted content in the {where}.",
)
CAPTION = (
    "Describe the edited area in a few words.",
    "Briefly, what was changed and where?",
    "Give a short description of the manipulation.",
    "In one sentence: where is the forgery?",
    "Caption the tampered region.",
    "Summarise the edit briefly.",
    "What kind of edit is this, and where? Keep it short.",
)
# Short grounded captions: {size} {adjective} region in the {where} {seg}.
CAPTION_ANSWERS = (
    "A {size} {adjective} region in the {where} {seg}.",
    "{Adjective} content in the {where}, {size} in size {seg}.",
    "In the {where}: a {size} {adjective} area {seg}.",
    "{Size} {adjective} area, {where} {seg}.",
)
ADJECTIVES = {
    "splice": "spliced",
    "copy-move": "copy-moved",
    "removal": "inpainted",
    "inpainting": "inpainted",
    "ai-edit": "AI-edited",
    "multi-source": "spliced",
    "unknown": "manipulated",
}

# Stage 2: detection and localization questions.
DETECT = (
    "Is this image edited?",
    "Has this photo been tampered with?",
    "Is this picture authentic or manipulated?",
    "Was anything in this image altered?",
    "Is this a genuine photo?",
    "Do you see any sign of forgery in this image?",
    "Has this image been doctored?",
    "Is there any manipulation in this picture?",
    "Can I trust that this image is unedited?",
    "Tell me whether this image is real or tampered.",
    "Is this image a forgery?",
    "Check this image for tampering.",
)
LOCATE = (
    "Where was this image manipulated?",
    "Which part of the image was edited, if any?",
    "If this photo was tampered with, where?",
    "Point out any forged region.",
    "Locate the tampering in this image, if there is any.",
    "Show me where this picture was altered, if it was.",
    "Find the edited region, if there is one.",
)
DETECT_AND_LOCATE = (
    "Is this image edited? Where?",
    "Is this image tampered? If so, where is the tampered region?",
    "Was this photo manipulated? If yes, segment the manipulated area.",
    "Check this picture for edits and mark any you find.",
    "Determine whether this image is authentic and, if not, locate the forgery.",
    "Is anything fake in this image? Show me where.",
    "Analyse this image for tampering and give the mask of any edited region.",
    "Please judge whether the image was edited and highlight the edited part.",
)
NO_REGION = (
    "There is no edited region to point to.",
    "There is nothing to segment.",
    "I cannot mark any region, because none was changed.",
)

# Stage 3: opening questions and follow-ups.
EXPLAIN = (
    "Is this image edited? Explain your reasoning.",
    "Analyse this image like a forensic expert: is it tampered, where, and why do you think so?",
    "Was this photo manipulated? Tell me where and what gives it away.",
    "Please examine this picture for forgery and explain what you find.",
    "Is this image authentic? Walk me through the evidence.",
    "Give me a forensic assessment of this image.",
    "Do you think this picture has been doctored? Why?",
    "Check this image for manipulation and justify your answer.",
)
WHY = (
    "Why do you think so?",
    "What evidence do you see?",
    "Which cues give it away?",
    "How can you tell?",
    "What makes you say that?",
)
WHAT_KIND = (
    "What kind of edit is it?",
    "How was it manipulated?",
    "What type of forgery is this?",
    "Was it spliced, cloned or removed?",
)
HOW_BIG = (
    "How big is the edited area?",
    "How much of the image was changed?",
    "How large is the manipulated region?",
)
HOW_MANY = (
    "How many regions were changed?",
    "Is there more than one edited region?",
    "How many separate edits are there?",
)
CELL_QUERY = (
    "Is the {where} part of the image edited?",
    "Was anything changed in the {where}?",
    "What about the {where}: is it original?",
    "Is the {where} of the picture tampered with?",
)
COPIED_FROM = (
    "Where was it copied from?",
    "Which part of the image is the source of the copy?",
    "Where does the duplicated content originally come from?",
)
OBJECT_QUERY = (
    "Is the {label} edited?",
    "Was the {label} added or changed?",
    "Is the {label} real?",
    "Has the {label} been tampered with?",
)
WHAT_REMOVED = (
    "What was removed?",
    "Was something taken out of the picture?",
    "Did someone erase anything?",
)
POSTPROCESS = (
    "Was the image processed after the edit?",
    "Was the file compressed or resized afterwards?",
    "Did anything happen to the picture after the manipulation?",
)
SHOW_AGAIN = (
    "Show me the mask again.",
    "Can you highlight it once more?",
    "Mark the edited region again, please.",
)
SHOW_SOURCES = (
    "Show each pasted piece separately.",
    "Segment every inserted piece on its own.",
    "Give me one mask per pasted source.",
)
ARE_YOU_SURE = (
    "Are you sure?",
    "Could you be wrong about that?",
    "How confident are you?",
)
