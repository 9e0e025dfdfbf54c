"""Track ids across frames (IoU association, Hungarian matching, a colour look to tell people
apart and to know one again after a while out of sight), per-track smoothing, and the scene cuts
at which tracks start afresh."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np


def best_pairs(ious: np.ndarray) -> list[tuple[int, int]]:
    """(track, box) pairs of the assignment with the largest total IoU (Jonker-Volgenant, from
    lapx: a small package, where scipy's solver would bring all of scipy into the runtime)."""
    import lap

    _, x, _ = lap.lapjv(-ious, extend_cost=True)
    return [(int(r), int(c)) for r, c in enumerate(x) if c >= 0]


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every pair of boxes given as N x 4 and M x 4 arrays of (x, y, w, h)."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    ax0, ay0, ax1, ay1 = a[:, 0, None], a[:, 1, None], (a[:, 0] + a[:, 2])[:, None], (a[:, 1] + a[:, 3])[:, None]
    bx0, by0, bx1, by1 = b[:, 0], b[:, 1], b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.clip(np.minimum(ax1, bx1) - np.maximum(ax0, bx0), 0, None)
    ih = np.clip(np.minimum(ay1, by1) - np.maximum(ay0, by0), 0, None)
    inter = iw * ih
    union = a[:, 2, None] * a[:, 3, None] + b[:, 2] * b[:, 3] - inter
    return inter / np.maximum(union, 1e-9)


# frames a tracker keeps a face it no longer finds, so that one back within them keeps its id
KEEP_MISSED = 10
# a face whose box moves less than this share of its width per frame is taken as still: the
# detector's jitter around a face that does not move (a few pixels) would move its predicted box
STILL = 0.05
# frames a face that the tracker let go stays known by its look: one who walked behind another
# and came out again (or turned away for a while) gets the id it had (its labels start afresh)
REMEMBER = 90
# Bhattacharyya distance of two looks (hue-saturation histograms of the top, middle and bottom
# thirds of the face box, averaged). Measured on 300 UTKFace faces (python bench/track_crossings.py
# --looks): the same face shifted, rescaled, blurred or brightened is over 0.3 in 0.8% of cases;
# two people are within 0.3 in 1.7% of pairs (one histogram of the whole box: 5.4%)
SAME_LOOK = 0.3  # a face out of sight is known again only this close
# a grey look (a face without colour: a black-and-white or infrared frame) is the grey-level
# histogram of each third, which brightness moves: measured the same way on those 300 faces made
# grey, the same face is over 0.2 in 16.6% of views (93% of those 15% brighter), two people within
# 0.2 in 0.58% of pairs. So it only knows a face again, this close, and never vetoes an overlap
SAME_GREY_LOOK = 0.2
OTHER_LOOK = 0.55  # a box this far from a face's look is another person, however well it overlaps
LOOK_WEIGHT = 0.1  # how fast a face's look follows the newest clear view of it
# a new face is matched with a face out of sight over its first clear views (however long it was
# seen only overlapping the face in front: one overtaken at walking pace is half hidden for seconds)
ADOPT_VIEWS = 3
DARK = 40  # pixels darker than this (HSV value, 0-255) have no colour to compare
GREY = 32  # nor do pixels less saturated than this (0-255): a black-and-white or infrared frame
# how far from where it was last seen a face out of sight is looked for: its width, and a
# fortieth of it more for each frame away, up to 2.5 widths (a walk behind someone at 30 FPS)
REACH_PER_FRAME, MAX_REACH = 0.025, 2.5


def look(image: np.ndarray, box) -> np.ndarray | None:
    """A face's look: hue-saturation histograms (16 x 8 bins, each summing to 1) of the top,
    middle and bottom thirds of the middle of its box (hair, eyes, mouth and chin), which colour
    of skin, hair and lighting set apart. A face without colour (a grey or infrared frame, a
    black-and-white photo) has a grey look instead: a 16-bin grey-level histogram of each third
    (3 x 16 x 1), compared only with other grey looks. None where there is nothing to compare: a
    box with no pixels, or a face in the dark."""
    import cv2

    x, y, w, h = (float(v) for v in box)
    x0, y0 = max(0, int(x + 0.1 * w)), max(0, int(y + 0.1 * h))
    x1, y1 = min(image.shape[1], int(x + 0.9 * w)), min(image.shape[0], int(y + 0.9 * h))
    if x1 - x0 < 6 or y1 - y0 < 6 or image.ndim != 3 or image.shape[2] not in (3, 4) or image.dtype != np.uint8:
        return None  # no pixels, or no 8-bit colour to compare
    step = max(1, min(x1 - x0, y1 - y0) // 32)  # 32 or more pixels across (1,000 or more) are enough for histograms
    hsv = cv2.cvtColor(np.ascontiguousarray(image[y0:y1:step, x0:x1:step]), cv2.COLOR_BGR2HSV)
    # one histogram over hue, saturation and the third each pixel is in; a near-black pixel,
    # whose hue is noise, is put in no third
    row_third = np.repeat((np.arange(hsv.shape[0]) * 3 // hsv.shape[0]).astype(np.uint8)[:, None], hsv.shape[1], axis=1)
    third = np.where(hsv[:, :, 2] < DARK, np.uint8(3), row_third)
    hists = cv2.calcHist([np.dstack([hsv[:, :, 0], hsv[:, :, 1], third])], [0, 1, 2], None, [16, 8, 3], [0, 180, 0, 256, 0, 3]).transpose(2, 0, 1)
    lit = float(hists.sum())
    if lit < 0.25 * hsv.shape[0] * hsv.shape[1]:  # a face in the dark: no colour to know it by
        return None
    if float(hists[:, :, : GREY * 8 // 256].sum()) > 0.9 * lit:  # hardly a saturated pixel: its grey levels
        grey = cv2.calcHist([np.dstack([hsv[:, :, 2], row_third])], [0, 1], None, [16, 3], [0, 256, 0, 3]).T[:, :, None]
        return np.stack([cv2.normalize(h, None, 1, 0, cv2.NORM_L1) for h in grey])
    return np.stack([cv2.normalize(h, None, 1, 0, cv2.NORM_L1) for h in hists])


def is_grey(view: np.ndarray) -> bool:
    """A grey look (`look` of a face without colour), not a colour one."""
    return view.shape[2] == 1


def look_distance(a: np.ndarray, b: np.ndarray) -> float:
    """0 (alike) to 1: the Bhattacharyya distance of two looks, averaged over their thirds; a
    third dark in one look and lit in the other counts as unlike, one dark in both is left out
    (a black cap or mask is the same in both). NaN for a grey look and a colour one: they do
    not compare (every test of it is then false)."""
    import cv2

    if a.shape != b.shape:
        return float("nan")
    parts = [cv2.compareHist(p, q, cv2.HISTCMP_BHATTACHARYYA) if p.any() and q.any() else 1.0 for p, q in zip(a, b) if p.any() or q.any()]
    return float(np.mean(parts)) if parts else 0.0


@dataclass(eq=False)  # a track is one face: compared by identity
class Track:
    id: int | None  # None: after a scene cut, until a face is matched to it again
    box: np.ndarray
    missed: int = 0
    hits: int = 1
    probs: dict[str, np.ndarray] = field(default_factory=dict)  # smoothed, per model
    classified_at: dict[str, int] = field(default_factory=dict)  # per model: the stream's frame index when it last saw this face
    read_rank: dict[str, int] = field(default_factory=dict)  # per model: its place in the queue of that frame's looks
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2))  # its box centre's movement per frame (x, y), from its detections
    look: np.ndarray | None = None  # histograms of its face (`look`: colour, or grey levels), from views no other face overlapped
    clear_views: int = 0  # views of it that gave its look
    born: int = 0  # the tracker's frame count when it was made

    def predicted(self) -> np.ndarray:
        """Where its box should be on the next frame: the last box moved on at its velocity for
        each frame since it was seen (two faces crossing: the one passing in front no longer
        lands on the hidden one's last box and takes its id)."""
        box = np.array(self.box, dtype=float)
        if np.hypot(*self.velocity) > STILL * max(box[2], 1.0):  # a still face's detection jitter is no movement
            box[:2] += self.velocity * (self.missed + 1)
        return box

    def moved_to(self, box: np.ndarray) -> None:
        """A detection of this face: its box, and its velocity (a running average of the centre's
        movement per frame, over the frames since it was last seen)."""
        step = (np.asarray(box[:2]) + np.asarray(box[2:]) / 2 - (self.box[:2] + self.box[2:] / 2)) / (self.missed + 1)
        if self.id is None:  # the first face after a scene cut: the jump from the last scene's box is no movement
            self.velocity = np.zeros(2)
        else:
            self.velocity = step if self.hits == 1 else 0.5 * self.velocity + 0.5 * step
        self.box, self.missed, self.hits = box, 0, self.hits + 1

    def seen_as(self, view: np.ndarray | None) -> None:
        """A clear view of this face (no other box overlapped it): its look follows it slowly."""
        if view is not None:  # (the first clear view replaces a look taken while it was partly hidden; a colour one a grey one)
            fresh = self.look is None or not self.clear_views or self.look.shape != view.shape
            self.look = view if fresh else (1 - LOOK_WEIGHT) * self.look + LOOK_WEIGHT * view
            self.clear_views += 1

    def adopt(self, gone: Track) -> None:
        """This new track is a face it had lost: it takes that face's id and detections, and
        keeps its own labels (read afresh, as a face known again after a while out of sight)."""
        self.id, self.hits, self.clear_views = gone.id, self.hits + gone.hits, self.clear_views + gone.clear_views
        if gone.look is not None and self.look is not None and gone.look.shape == self.look.shape:
            self.look = (gone.look + self.look) / 2

    def unlike(self, view: np.ndarray | None) -> bool:
        """A view plainly another person's: colour looks only (brightness moves a grey one)."""
        return self.look is not None and view is not None and not is_grey(view) and look_distance(self.look, view) > OTHER_LOOK


class IoUTracker:
    """Greedy-free IoU tracker: optimal assignment per frame; a track survives `max_missed` frames
    without a match (so a face lost for a moment keeps its id), and a confirmed face let go after
    that is remembered by its look for `remember` frames more (one hidden behind another person
    for a second comes back under its own id). With looks given, a box whose look is plainly
    another person's is never matched to a face by overlap alone."""

    def __init__(self, iou_threshold: float = 0.3, max_missed: int = KEEP_MISSED, remember: int = REMEMBER, confirm_hits: int = 3):
        self.iou_threshold, self.max_missed, self.remember, self.confirm_hits = iou_threshold, max_missed, remember, confirm_hits
        self.tracks: list[Track] = []
        self.gone: list[Track] = []  # let go, but known again by their look within `remember` frames
        self._next_id = 1
        self._frame = 0  # updates so far
        # this update's id changes of faces in view: {new id it showed: id it took back} (a face
        # that came out from behind another, known by its first clear views; `adopt`)
        self.renamed: dict[int, int] = {}

    def split(self) -> None:
        """After a scene cut the faces are other people: every track drops its id (a new one
        comes when a face is matched to it again), its smoothed labels, its look and its
        confirmation, and keeps only its box, as a place to look first (edited video often cuts
        between similar framings). A box with no face there is let go, as an unconfirmed track's
        would be. No face of the last scene is remembered."""
        for track in self.tracks:  # an id is given when a face is matched to it: one let go takes none
            track.id, track.probs, track.hits, track.missed, track.velocity, track.look, track.clear_views = None, {}, 1, 0, np.zeros(2), None, 0
        self.gone = []

    def forget(self) -> None:
        """The next frame is another photo: no face of this one is in it, so every track goes."""
        self.tracks, self.gone = [], []

    def update(self, boxes: np.ndarray, held: list[bool] | None = None, looks: list | None = None) -> list[Track]:
        """boxes: N x 4 (x, y, w, h) -> the Track of each box, in the same order. A `held` box is
        a track's last box shown again without a detection: it keeps the track, but counts as a
        miss (so holding cannot keep a face that has gone on screen for ever). `looks`: each box's
        `look` (None where unknown), by which faces are told apart and known again."""
        boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
        held = [False] * len(boxes) if held is None else list(held)
        self._frame += 1
        self.renamed = {}
        looks = [None] * len(boxes) if looks is None else list(looks)
        assigned: list[Track | None] = [None] * len(boxes)
        # a detection is compared with where each face should be now; a held box, a track's last
        # box shown again, with that last box
        ious = iou_matrix(np.array([t.predicted() for t in self.tracks]).reshape(-1, 4), boxes)
        shown_again = [c for c in range(len(boxes)) if held[c]]
        if shown_again and self.tracks:
            ious[:, shown_again] = iou_matrix(np.array([t.box for t in self.tracks]).reshape(-1, 4), boxes[shown_again])
        matched_tracks: set[int] = set()
        self._match(ious, boxes, held, looks, assigned, matched_tracks, range(len(self.tracks)), range(len(boxes)))
        # then a face its prediction missed (it stopped, or turned back) is taken where it was
        # last seen, by a detection no other face claimed
        left = [r for r in range(len(self.tracks)) if r not in matched_tracks]
        free = [c for c in range(len(boxes)) if assigned[c] is None and not held[c]]
        if left and free:
            last = iou_matrix(np.array([self.tracks[r].box for r in left]).reshape(-1, 4), boxes[free])
            self._match(last, boxes, held, looks, assigned, matched_tracks, left, free)
        for i, t in enumerate(self.tracks):
            if i not in matched_tracks:
                t.missed += 1
        for t in self.gone:
            t.missed += 1
        # a confirmed face let go now is remembered by its look; one remembered too long is forgotten
        kept = [t for t in self.tracks if t.missed <= self.max_missed]
        self.gone = [t for t in self.gone if t.missed <= self.max_missed + self.remember]
        self.gone += [t for t in self.tracks if t.missed > self.max_missed and t.id is not None and t.look is not None and t.hits >= self.confirm_hits]
        self.tracks = kept
        # a face no track claimed may be a confirmed one out of sight for a while, known by its look
        free = [c for c in range(len(boxes)) if assigned[c] is None and not held[c]]
        taken = {id(t) for t in assigned if t is not None}
        candidates = [t for t in self.tracks if id(t) not in taken and t.missed > 0 and t.hits >= self.confirm_hits] + self.gone
        for c, track in self._known_again(boxes, looks, free, candidates):
            track.moved_to(boxes[c])
            assigned[c] = track
            if any(track is t for t in self.gone):
                self.gone = [t for t in self.gone if t is not track]
                self.tracks.append(track)
                # its labels start afresh: were the look wrong (another person with the colours
                # of the one lost), only the id would pass to them, not what was read of the other
                track.probs, track.classified_at, track.read_rank = {}, {}, {}
        for c, box in enumerate(boxes):
            if assigned[c] is None:
                track = Track(self._next_id, box, born=self._frame)
                self._next_id += 1
                self.tracks.append(track)
                assigned[c] = track
        # a face's look follows its clear views only: where boxes overlap, each holds some of the
        # other; so do those over where a face missed this frame should be (the one in front,
        # not found for a frame, still hides part of the one coming out from behind it)
        unseen = [t.predicted() for t in self.tracks if t.missed > 0 and t.hits >= self.confirm_hits and not any(t is a for a in assigned)]
        hidden = (iou_matrix(boxes, np.array(unseen).reshape(-1, 4)) > 0).any(axis=1) if unseen else np.zeros(len(boxes), bool)
        alone = [not held[c] and row.sum() == 1 for c, row in enumerate(iou_matrix(boxes, boxes) > 0)]
        clear = [alone[c] and not hidden[c] for c in range(len(boxes))]
        for c, track in enumerate(assigned):
            if clear[c]:
                track.seen_as(looks[c])
            elif alone[c] and track.look is None:  # a first look, until a clear one: enough to tell it from another face
                track.look = looks[c]
        # a face that came out from behind another was first seen overlapping it, with no clear
        # look to be known by, and took a new id: its first clear views may show whose face it is
        young = [c for c in range(len(boxes)) if clear[c] and assigned[c].id is not None and assigned[c].clear_views <= ADOPT_VIEWS]
        for c in young:
            # only a face last seen before this one appeared: two faces seen together are two people
            earlier = [g for g in self.gone if self._frame - g.missed < assigned[c].born]
            for _, gone in self._known_again(boxes, {c: assigned[c].look}, [c], earlier):
                self.renamed[assigned[c].id] = gone.id
                assigned[c].adopt(gone)
                self.gone = [t for t in self.gone if t is not gone]
        return assigned  # type: ignore[return-value]

    def _match(self, ious: np.ndarray, boxes: np.ndarray, held: list[bool], looks: list, assigned: list, matched_tracks: set[int], rows, cols) -> None:
        """The best assignment of these tracks (`rows`, indices into self.tracks) to these boxes
        (`cols`) by `ious`, pairs under the IoU threshold, or whose looks are another person's,
        left apart."""
        if not ious.size:
            return
        rows, cols = list(rows), list(cols)
        ious = ious.copy()
        for r, row in enumerate(rows):
            for c, col in enumerate(cols):
                if ious[r, c] >= self.iou_threshold and self.tracks[row].unlike(looks[col]):
                    ious[r, c] = 0.0
        for r, c in best_pairs(ious):
            if ious[r, c] < self.iou_threshold:
                continue
            track, box = self.tracks[rows[r]], cols[c]
            if held[box]:
                track.missed += 1
            else:
                track.moved_to(boxes[box])
            if track.id is None:  # first face after a cut: a new person's id
                track.id = self._next_id
                self._next_id += 1
            assigned[box] = track
            matched_tracks.add(rows[r])

    @staticmethod
    def _known_again(boxes: np.ndarray, looks, free: list[int], candidates: list[Track]) -> list[tuple[int, Track]]:
        """(box, track) pairs of faces out of sight found again: the look within SAME_LOOK, the
        size within 1.5x, and the box within reach of where the face was last seen. `looks`: the
        look of each box in `free`, by its index (a list, or a dict)."""
        scores = np.zeros((len(free), len(candidates)))
        for (r, c), (k, t) in itertools.product(enumerate(free), enumerate(candidates)):
            if looks[c] is None or t.look is None:
                continue
            box, last = boxes[c], t.box
            size = box[2] / max(last[2], 1.0)
            reach = last[2] * min(MAX_REACH, 1 + REACH_PER_FRAME * t.missed)
            far = np.hypot(*(box[:2] + box[2:] / 2 - last[:2] - last[2:] / 2))
            distance = look_distance(t.look, looks[c])
            if distance <= (SAME_GREY_LOOK if is_grey(looks[c]) else SAME_LOOK) and 1 / 1.5 <= size <= 1.5 and far <= reach:
                scores[r, k] = 1.0 - distance - 0.01 * far / reach  # of two alike, the nearer
        return [(free[r], candidates[k]) for r, k in best_pairs(scores) if scores[r, k] > 0] if scores.size else []


def smooth(track: Track, key: str, probs: np.ndarray, alpha: float) -> np.ndarray:
    """Exponential moving average of a track's probabilities (alpha = weight of the new frame;
    1 = no smoothing), so labels do not flicker from frame to frame."""
    previous = track.probs.get(key)
    value = probs if previous is None or alpha >= 1 else alpha * probs + (1 - alpha) * previous
    track.probs[key] = value
    return value


class CutDetector:
    """Hard cuts in edited video: the mean absolute grey-level change (0-255) between 64x36
    thumbnails of consecutive frames. On the real clips, cuts measured 27.7-30.4 and every other
    frame pair at most 17.4 (bench/label_stability.py prints the effect of resetting there)."""

    def __init__(self, threshold: float = 20.0):
        self.threshold = threshold
        self._previous: np.ndarray | None = None

    def is_cut(self, image: np.ndarray, between=()) -> bool:
        """`between`: the frames skipped since the last image (--stride), a SkippedFrames or
        their thumbnails (cut_thumbnail): a cut is a change this large between two frames in a
        row, not across the stride, over which a moving face changed its frame as much
        (WolfgangLanger_Pexels.mp4's one face got 4 ids at --stride 10)."""
        if self.threshold <= 0:
            return False
        thumb = cut_thumbnail(image)
        skipped = between if isinstance(between, SkippedFrames) else SkippedFrames.of(between)
        cut = False
        if self._previous is not None:  # (every thumbnail is 64 x 36: cut_thumbnail)
            steps = [_change(self._previous, thumb)] if skipped.first is None else [_change(self._previous, skipped.first), skipped.largest, _change(skipped.last, thumb)]
            cut = max(steps) > self.threshold
        self._previous = thumb
        return cut


def _change(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(b - a).mean())


class SkippedFrames:
    """The frames --stride skips between two it takes, as the cut detector needs them: the
    first and last one's thumbnails and the largest change between two of them in a row (kept
    as they come: a list of thumbnails grew with the stride, 1.6 GB for one frame of a film)."""

    def __init__(self):
        self.first: np.ndarray | None = None
        self.last: np.ndarray | None = None
        self.largest = 0.0
        self.count = 0

    @classmethod
    def of(cls, thumbnails) -> "SkippedFrames":
        skipped = cls()
        for thumb in thumbnails:
            skipped.add(thumb)
        return skipped

    def add(self, thumb: np.ndarray) -> None:
        if self.last is not None:
            self.largest = max(self.largest, _change(self.last, thumb))
        if self.first is None:
            self.first = thumb
        self.last = thumb
        self.count += 1

    def __len__(self) -> int:
        return self.count


def cut_thumbnail(image: np.ndarray) -> np.ndarray:
    """A frame as CutDetector compares it: 64 x 36 grey levels (float32)."""
    import cv2

    # every step-th pixel first: the thumbnail's change at the shared clips' cuts and
    # elsewhere is within 1.1 grey levels of a full-frame average, at a twentieth of the cost
    step = max(1, min(image.shape[1] // 128, image.shape[0] // 72))
    thumb = cv2.resize(image[::step, ::step], (64, 36), interpolation=cv2.INTER_AREA)
    return (cv2.cvtColor(thumb, cv2.COLOR_BGR2GRAY) if thumb.ndim == 3 else thumb).astype(np.float32)
