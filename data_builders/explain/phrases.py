"""Phrase banks for the explanations. Location words come only from ``xforge.location``; nothing here may
name a place (no "left", "top", "centre" ...), so parsing an explanation back finds exactly the mask's cells.
Verdict sentences are checked against ``xforge.location.verdict_from_text`` by the tests.
"""

from __future__ import annotations

TAMPERED_VERDICTS = (
    "Yes, this image has been edited.",
    "This image has been tampered with.",
    "Yes. The image shows clear signs of manipulation.",
    "I found an edited region in this image.",
    "This picture has been manipulated.",
    "Yes, part of this photo was altered.",
    "The image is not original: it has been edited.",
    "Yes, I see evidence of tampering.",
)
AUTHENTIC_VERDICTS = (
    "No, I found no sign of editing in this image.",
    "The image appears authentic.",
    "No edit was found.",
    "Nothing suspicious was found; the image appears unedited.",
    "No. As far as the evidence goes, this image is genuine.",
    "I see no evidence of manipulation here.",
    "The photo appears to be authentic.",
    "No, this image does not seem to have been tampered with: I found no traces of tampering.",
)
SYNTHETIC_VERDICTS = (
    "This image looks fully synthetic: an AI model generated all of it, so it is a forgery of a photo.",
    "The whole picture appears AI-generated rather than a camera photo with a manipulated part.",
    "It is a fully generated (synthetic) image, so no single region was spliced or retouched.",
)
# A generated image has no edited region: its cues are image-wide generator traces, and nothing said about it
# may name a place (the tests check every sentence with ``xforge.location.parse_location`` and a word list).
SYNTHETIC_CUES = (
    "its frequency spectrum shows the periodic peaks that the upsampling layers of generators leave",
    "the sensor noise a camera leaves is missing; the fine grain is uniform and too regular",
    "textures repeat with a faint grid-like regularity",
    "small details such as text, hands or reflections are plausible at a glance but inconsistent",
    "there is no trace of a camera pipeline: no demosaicing pattern and no consistent lens blur",
    "the noise does not vary with brightness as a real sensor's does",
)
SYNTHETIC_CUE_INTROS = (
    "Generator traces: {cues}.",
    "What gives it away: {cues}.",
    "The evidence is spread over all of it: {cues}.",
    "Signs of a generative model: {cues}.",
)
SYNTHETIC_NO_REGION = (
    "There is no edited region to point to: no part of it comes from a real photo.",
    "There is nothing to segment, since the picture was generated as a whole rather than edited in one place.",
    "No region can be marked: a generator produced all of it, so there is no boundary between real and fake.",
)
SYNTHETIC_WHAT = (
    "It is not an edit of a photo: a generative model (a GAN or a diffusion model) produced all of it.",
    "No photo was edited here; the picture was generated from scratch by an AI model.",
    "It was synthesised by an image generator rather than taken with a camera and then altered.",
)
AUTHENTIC_CUES = (
    "noise and grain are consistent throughout",
    "lighting and shadows agree with each other",
    "no duplicated textures turn up",
    "object outlines blend naturally with their surroundings",
    "the compression traces are uniform",
    "colours and contrast are coherent",
)

# What was done, per manipulation. {n} is the number of sources for multi-source composites.
WHAT = {
    "splice": (
        "a region from another photo was pasted in (splicing)",
        "content from a different image was spliced into it",
        "it is a splice: a piece of another picture was inserted",
    ),
    "copy-move": (
        "part of the same image was copied and pasted elsewhere in it (copy-move)",
        "a region was duplicated within the image (a copy-move forgery)",
        "an area was cloned from another part of the same picture",
    ),
    "removal": (
        "something was erased and the gap filled in from its surroundings (object removal by inpainting)",
        "content was removed and the hole was inpainted",
        "a region was wiped out and painted over with texture from around it",
    ),
    "inpainting": (
        "the region was inpainted: its content was synthesised to fill it",
        "the area was filled in by an inpainting algorithm",
    ),
    "ai-edit": (
        "the region was regenerated with a generative model",
        "an AI editing tool rewrote that area",
    ),
    "multi-source": (
        "pieces from {n} different photos were composited into it",
        "it is a composite: {n} regions come from {n} other images",
        "content from {n} separate sources was spliced in",
    ),
    "unknown": (
        "that region was altered",
        "the content there was manipulated",
    ),
}

# When the edited region is a known object ({label}, e.g. "person"), per manipulation.
WHAT_OBJECT = {
    "splice": (
        "a {label} from another photo was pasted in (splicing)",
        "the {label} was spliced in from a different image",
    ),
    "copy-move": (
        "a {label} was duplicated from elsewhere in the same image (copy-move)",
        "the {label} is a cloned copy of content from this same picture",
    ),
    "removal": (
        "a {label} was erased and the gap filled in from its surroundings (object removal by inpainting)",
        "the {label} that stood there was removed and the hole inpainted",
    ),
}

# Cues that would reveal each kind of edit (what a forensic analyst would look at).
CUES = {
    "splice": (
        "its outline is sharper than comparable outlines in the scene",
        "its lighting and colour do not quite match the surroundings",
        "its noise level differs from the rest of the picture",
        "its compression traces do not line up with those of the host image",
        "the blending seam around it shows a faint halo",
    ),
    "copy-move": (
        "its texture duplicates another area of the image",
        "keypoints inside it match keypoints elsewhere in the picture",
        "two areas share an identical noise pattern",
        "the same details repeat in two places",
    ),
    "removal": (
        "the filled area is unnaturally smooth and lacks sensor noise",
        "lines running into it are smeared and end abruptly",
        "its texture is blurred and repetitive compared with its neighbourhood",
        "the noise pattern breaks off inside it",
    ),
    "inpainting": (
        "its texture is smoother than its neighbourhood",
        "its noise statistics differ from the rest of the picture",
        "structures crossing it are not continued consistently",
    ),
    "ai-edit": (
        "its fine texture has the regular look of generated content",
        "its noise and frequency statistics differ from the camera's",
        "details inside it are plausible but inconsistent with the scene",
    ),
    "unknown": (
        "its noise and compression traces differ from the rest of the picture",
        "its outline does not blend naturally with its surroundings",
        "lighting and texture inside it are inconsistent with the scene",
    ),
}
CUES["multi-source"] = CUES["splice"] + (
    "each inserted piece carries its own noise and compression signature",
)

CUE_INTROS = (
    "The giveaways: {cues}.",
    "It shows because {cues}.",
    "What gives it away: {cues}.",
    "Forensic cues: {cues}.",
    "Evidence: {cues}.",
)
AUTHENTIC_CUE_INTROS = (
    "Checked cues: {cues}.",
    "Why: {cues}.",
    "The evidence is consistent: {cues}.",
)

# Where-sentences. {size}, {shape}, {where}, {count} and {seg} are filled in by the explainer.
WHERE = (
    "The edited region is a {size}, {shape} area in the {where}{seg}.",
    "The manipulation covers a {size} {shape} area in the {where}{seg}.",
    "It is located in the {where}: a {size}, {shape} region{seg}.",
    "Look at the {where}, where a {size} region was changed{seg}.",
    "The tampered area sits in the {where} and is {size}{seg}.",
)
# Several regions: the grid words name the cells holding most of the edited pixels (xforge.location's
# cells_of_mask), so the text says "mostly" -- small outlying pieces are not named.
WHERE_MULTI = (
    "The edits form {count} separate regions, mostly in the {where}{seg}.",
    "There are {count} edited regions, concentrated in the {where}{seg}.",
    "I see {count} manipulated regions, most of them in the {where}; together they are {size}{seg}.",
)

NUMBER_WORDS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}
ORDINALS = {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth"}
