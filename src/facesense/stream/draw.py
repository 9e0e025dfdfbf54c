"""Annotating a frame: box, track id, expression and gender with probabilities, age, FPS."""

from __future__ import annotations

import math
from functools import partial

import numpy as np

from ..runtime.faces import Box
from ..runtime.results import whole_years
from .pipeline import FrameResult

# BGR; black label text on each at least 4.5:1 (WCAG AA): the purple was (245, 66, 135), 4.1:1
_COLOURS = [(66, 135, 245), (66, 245, 135), (247, 95, 157), (245, 197, 66), (135, 66, 245), (66, 245, 245)]


def colour_indices(track_ids: list[int], kept: dict[int, int] | None = None) -> list[int]:
    """Each face's colour (an index into _COLOURS): its track's own (id modulo the number of
    colours), unless a face of a lower id in the same frame has it; then the next colour no face
    of the frame has. Ids 6 apart shared a colour, so two faces side by side (#6 and #12) had
    the same box and label colour, and a label set apart from its face read as the other's. Up
    to len(_COLOURS) faces are never alike; the web page's camera colours its faces the same way.
    `kept`: each track's colour from earlier frames of the same video (updated here), which it
    keeps while no face that kept one first has it, so that a colour taken to avoid a clash does
    not change back when the other face leaves (found by a review)."""
    n, taken, chosen = len(_COLOURS), set(), {}
    kept = {} if kept is None else kept
    for tid in sorted(set(track_ids), key=lambda t: (t not in kept, t)):  # colours held from before first
        own = kept.get(tid, tid % n)
        pick = next((c for c in ((own + k) % n for k in range(n)) if c not in taken), own)
        taken.add(pick)
        chosen[tid] = kept[tid] = pick
    return [chosen[tid] for tid in track_ids]


# a frame whose short side is under this is drawn on a copy enlarged to it: a label at its
# smallest readable size covered half of a 64x48 frame, face included; never past
# MAX_ENLARGED_SIDE on its long side (a 60000x1 strip would have asked for gigabytes)
MIN_DRAWN_SIDE = 360
MAX_ENLARGED_SIDE = 1920


def annotate(result: FrameResult, fps: float | None = None, enlarge: bool = True, colours: dict[int, int] | None = None) -> np.ndarray:
    """The frame with each face's box and label (and the FPS); with `enlarge`, a frame with a
    short side under MIN_DRAWN_SIDE comes back enlarged toward it (the long side at most
    MAX_ENLARGED_SIDE); without, at its own size (an image whose boxes a client overlays).
    `colours`: one dict per video, each track's colour kept from frame to frame (colour_indices)."""
    import cv2

    image = result.frame.image.copy()
    short, long = min(image.shape[:2]), max(image.shape[:2])
    k = min(MIN_DRAWN_SIDE / short, MAX_ENLARGED_SIDE / long) if enlarge and 0 < short < MIN_DRAWN_SIDE else 1.0
    boxes = [face.box for face in result.faces]
    if k > 1.0:
        image = cv2.resize(image, (round(image.shape[1] * k), round(image.shape[0] * k)), interpolation=cv2.INTER_LINEAR)
        boxes = [Box(round(b.x * k), round(b.y * k), round(b.w * k), round(b.h * k), b.score) for b in boxes]
    # text and lines grow with the image: a label sized for 640x360 is a speck on a 12 MP photo
    s = max(1.0, min(image.shape[:2]) / 480)
    drawn = [_COLOURS[i] for i in colour_indices([face.track_id for face in result.faces], colours)]
    for face, b, colour in zip(result.faces, boxes, drawn):  # every box first, so that no box line crosses another face's label
        cv2.rectangle(image, (b.x, b.y), (b.x + b.w, b.y + b.h), colour, max(2, round(2 * _face_scale(b, s))))
    # the FPS figure's corner is taken first: a face's label there was drawn under it ("33#FPSad")
    fixed = [fps_corner(image.shape[:2], s)] if fps is not None else []
    fonts, size_ofs = [], []
    for box in boxes:
        fs = _face_scale(box, s)
        font, thick, pad = 0.5 * fs, max(1, round(fs)), round(3 * fs)
        (_, th), below = cv2.getTextSize("#0", cv2.FONT_HERSHEY_SIMPLEX, font, thick)  # below: descenders under the baseline
        fonts.append((font, thick, pad, th, below))
        size_ofs.append(partial(_label_size, font=font, thick=thick, pad=pad, line=th + below))
    forms = [label_texts(_label_parts(face), _label_parts(face, compact=True), " ") for face in result.faces]
    for (text, rect), colour, (font, thick, pad, th, below) in zip(_place_labels(boxes, forms, size_ofs, image.shape[:2], fixed), drawn, fonts):
        x0, y0, x1, y1 = rect
        cv2.rectangle(image, (x0, y0), (x1, y1), colour, -1)
        for i, line in enumerate(text.split("\n")):  # a line's baseline: its top, the lines and gaps above it, its height
            cv2.putText(image, line, (x0 + pad, y0 + pad + i * (th + below + pad) + th), cv2.FONT_HERSHEY_SIMPLEX, font, (0, 0, 0), thick, cv2.LINE_AA)
    if fps is not None:
        cv2.putText(image, f"{fps:.0f} FPS", (round(8 * s), round(22 * s)), cv2.FONT_HERSHEY_SIMPLEX, 0.6 * s, (255, 255, 255), 2 * max(1, round(s)), cv2.LINE_AA)
    return image


def label_texts(parts: list[str], compact: list[str], sep: str) -> list[str]:
    """A face's label in the forms tried in turn (_place_labels): whole on one line; without its
    percentages; that on two lines (id and expression, then gender and age); the id alone (in a
    crowd every longer form covered a neighbour's label; the id still says which face is which,
    and the per-frame log, or the page's list of faces, has its words)."""
    two_lines = sep.join(compact[:2]) + ("\n" + sep.join(compact[2:]) if len(compact) > 2 else "")
    return list(dict.fromkeys([sep.join(parts), sep.join(compact), two_lines, compact[0]]))


def _label_size(text: str, font: float, thick: int, pad: int, line: int) -> tuple[int, int]:
    """(w, h) of a label's box: its lines (`line` px high, descenders included), a pad between
    them and around them."""
    import cv2

    lines = text.split("\n")
    width = max(cv2.getTextSize(text_line, cv2.FONT_HERSHEY_SIMPLEX, font, thick)[0][0] for text_line in lines)
    return width + 2 * pad, len(lines) * (line + pad) + pad


def fps_corner(shape: tuple[int, int], s: float) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) the FPS figure covers, at the image scale `s` (room for "999 FPS")."""
    import cv2

    (tw, th), below = cv2.getTextSize("999 FPS", cv2.FONT_HERSHEY_SIMPLEX, 0.6 * s, 2 * max(1, round(s)))
    x, y = round(8 * s), round(22 * s)
    return (x - round(2 * s), y - th - round(2 * s), x + tw + round(2 * s), y + below + round(2 * s))


def _face_scale(box, image_scale: float) -> float:
    """A face's label and box-line scale: the image's, down to a third of it for a face much
    smaller than the frame (faces 90 px wide in a 4000 px group photo had labels six times
    their width, over their neighbours); never under the 640x360 size."""
    return max(1.0, min(image_scale, max(image_scale / 3, box.w / FACE_WIDTH_PER_SCALE)))


FACE_WIDTH_PER_SCALE = 80  # px of face width per unit of label scale: a face of a 640x360 frame


def _label_parts(face, compact: bool = False) -> list[str]:
    """The words of a face's label; `compact`: without the probabilities."""
    parts = [f"#{face.track_id}"]
    for pred in (face.expression, face.gender):
        if pred:
            parts.append(pred.label if compact else f"{pred.label} {pred.p:.0%}")
    if face.age:
        # a wide distribution's mean is no age to read off: a child's two humps (7 and 44) gave
        # "~26y"; a span of one sd each side, "3-49y", tells a guess from an estimate (the
        # drawing font has no "±")
        years, sd = face.age.years, face.age.sd
        wide = math.isfinite(years) and math.isfinite(sd) and sd >= WIDE_AGE_SD
        parts.append(f"{whole_years(max(0.0, years - sd))}-{whole_years(min(OLDEST_SHOWN, years + sd))}y" if wide else f"~{whole_years(years)}y")
    return parts


OLDEST_SHOWN = 100.0  # the age models' top bin (gender_age's; dlib-age's is 80): a span ends there
WIDE_AGE_SD = 15.0  # years: UTKFace faces' estimates average an sd of about 7, the demo's 9 (at most 12)


def _free_spot(box, w: int, h: int, shape: tuple[int, int], placed: list[tuple[int, int, int, int]], others: list, rows_down: int = 3) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of a face's label: just above its box, else just below, else further
    down a label at a time (at most `rows_down` labels); starting at the box's left edge, else
    ending at its right edge. The first place that covers neither a label already drawn nor
    another face wins (faces side by side in a crowd had their labels on top of each other, or
    over a neighbour's face); else the first that covers no label; else above the box."""
    height, width = shape
    above = box.y - h
    tops = ([above] if above >= 0 else []) + [box.y + box.h + i * h for i in range(rows_down + 1)]
    tops = [t for t in tops if 0 <= t and t + h <= height] or [max(0, min(above, height - h))]
    # a face near the right edge keeps its whole label in view
    lefts = list(dict.fromkeys(max(0, min(x, width - w)) for x in (box.x, box.x + box.w - w)))
    spots = [(x, top, x + w, top + h) for top in tops for x in lefts]
    faces = [(b.x, b.y, b.x + b.w, b.y + b.h) for b in others]
    for avoid in (placed + faces, placed):
        for rect in spots:
            if not any(_overlap(rect, r) for r in avoid):
                return rect
    return spots[0]


def _place_labels(boxes: list, forms: list[list[str]], size_ofs: list, shape: tuple[int, int], fixed: list[tuple[int, int, int, int]]) -> list[tuple[str, tuple[int, int, int, int]]]:
    """(text, rect) of each face's label. `forms[i]`: face i's label, longest first
    (label_texts); `size_ofs[i](text)`: its box's (w, h) at face i's scale; `fixed`: places
    taken already (the FPS figure). Every face's label at one length first, the longest with
    which no label covers another or a face, beside its box (_free_spot) before further down;
    else the length that covers least. Then each label as long as it fits there without
    covering anything. Placing face by face, each at its longest free form, let the first faces'
    whole labels take the places their neighbours needed for even their ids (18 faces of 70 px:
    7 labels on labels; now none)."""
    if not boxes:
        return []
    others = [[b for j, b in enumerate(boxes) if j != i] for i in range(len(boxes))]
    faces = [[(b.x, b.y, b.x + b.w, b.y + b.h) for b in rest] for rest in others]

    def covers(i, rect, labels) -> int:  # 2: a label; 1: another face; 0: nothing
        return 2 if any(_overlap(rect, r) for r in labels) else int(any(_overlap(rect, r) for r in faces[i]))

    best = None
    for rows_down in (0, 3):  # a label three rows down, under another face's box, read as that face's
        for level in range(max((len(f) for f in forms), default=0)):
            placed, chosen = list(fixed), []
            for i, box in enumerate(boxes):
                text = forms[i][min(level, len(forms[i]) - 1)]
                chosen.append((text, _free_spot(box, *size_ofs[i](text), shape, placed, others[i], rows_down)))
                placed.append(chosen[-1][1])
            counts = [0, 0, 0]
            for i, (_, rect) in enumerate(chosen):
                counts[covers(i, rect, fixed + [r for j, (_, r) in enumerate(chosen) if j != i])] += 1
            score = (counts[2], counts[1])
            if best is None or score < best[0]:
                best = (score, level, chosen)
            if score == (0, 0):
                break
        if best[0] == (0, 0):
            break
    level, chosen = best[1], best[2]
    for i, box in enumerate(boxes):  # longer where it still covers nothing, now that every label has its place
        rest = fixed + [r for j, (_, r) in enumerate(chosen) if j != i]
        # a label put further down (because some face of the frame had no room beside its box)
        # goes beside its own box in the longest form that covers nothing there: a whole label
        # three rows down, under another face's box, read as that face's
        further = chosen[i][1][1] > box.y + box.h
        for text in forms[i] if further else forms[i][: min(level, len(forms[i]) - 1)]:
            rect = _free_spot(box, *size_ofs[i](text), shape, rest, others[i], rows_down=0)
            if not covers(i, rect, rest):
                chosen[i] = (text, rect)
                break
    return chosen


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
