"""Track ids across frames (IoU association, Hungarian matching), per-track smoothing, and the
scene cuts at which tracks start afresh."""

from __future__ import annotations

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


@dataclass
class Track:
    id: int | None  # None: after a scene cut, until a face is matched to it again
    box: np.ndarray
    missed: int = 0
    hits: int = 1
    probs: dict[str, np.ndarray] = field(default_factory=dict)  # smoothed, per model
    classified_at: dict[str, int] = field(default_factory=dict)  # per model: the stream's frame index when it last saw this face
    read_rank: dict[str, int] = field(default_factory=dict)  # per model: its place in the queue of that frame's looks
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2))  # its box centre's movement per frame (x, y), from its detections

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


class IoUTracker:
    """Greedy-free IoU tracker: optimal assignment per frame; a track survives `max_missed` frames
    without a match (so a face lost for a moment keeps its id)."""

    def __init__(self, iou_threshold: float = 0.3, max_missed: int = KEEP_MISSED):
        self.iou_threshold, self.max_missed = iou_threshold, max_missed
        self.tracks: list[Track] = []
        self._next_id = 1

    def split(self) -> None:
        """After a scene cut the faces are other people: every track drops its id (a new one
        comes when a face is matched to it again), its smoothed labels and its confirmation, and
        keeps only its box, as a place to look first (edited video often cuts between similar
        framings). A box with no face there is let go, as an unconfirmed track's would be."""
        for track in self.tracks:  # an id is given when a face is matched to it: one let go takes none
            track.id, track.probs, track.hits, track.missed, track.velocity = None, {}, 1, 0, np.zeros(2)

    def forget(self) -> None:
        """The next frame is another photo: no face of this one is in it, so every track goes."""
        self.tracks = []

    def update(self, boxes: np.ndarray, held: list[bool] | None = None) -> list[Track]:
        """boxes: N x 4 (x, y, w, h) -> the Track of each box, in the same order. A `held` box is
        a track's last box shown again without a detection: it keeps the track, but counts as a
        miss (so holding cannot keep a face that has gone on screen for ever)."""
        boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
        held = held or [False] * len(boxes)
        assigned: list[Track | None] = [None] * len(boxes)
        # a detection is compared with where each face should be now; a held box, a track's last
        # box shown again, with that last box
        ious = iou_matrix(np.array([t.predicted() for t in self.tracks]).reshape(-1, 4), boxes)
        shown_again = [c for c in range(len(boxes)) if held[c]]
        if shown_again and self.tracks:
            ious[:, shown_again] = iou_matrix(np.array([t.box for t in self.tracks]).reshape(-1, 4), boxes[shown_again])
        matched_tracks: set[int] = set()
        self._match(ious, boxes, held, assigned, matched_tracks, range(len(self.tracks)), range(len(boxes)))
        # then a face its prediction missed (it stopped, or turned back) is taken where it was
        # last seen, by a detection no other face claimed
        left = [r for r in range(len(self.tracks)) if r not in matched_tracks]
        free = [c for c in range(len(boxes)) if assigned[c] is None and not held[c]]
        if left and free:
            last = iou_matrix(np.array([self.tracks[r].box for r in left]).reshape(-1, 4), boxes[free])
            self._match(last, boxes, held, assigned, matched_tracks, left, free)
        for i, t in enumerate(self.tracks):
            if i not in matched_tracks:
                t.missed += 1
        self.tracks = [t for t in self.tracks if t.missed <= self.max_missed]
        for c, box in enumerate(boxes):
            if assigned[c] is None:
                track = Track(self._next_id, box)
                self._next_id += 1
                self.tracks.append(track)
                assigned[c] = track
        return assigned  # type: ignore[return-value]

    def _match(self, ious: np.ndarray, boxes: np.ndarray, held: list[bool], assigned: list, matched_tracks: set[int], rows, cols) -> None:
        """The best assignment of these tracks (`rows`, indices into self.tracks) to these boxes
        (`cols`) by `ious`, pairs under the IoU threshold left apart."""
        if not ious.size:
            return
        rows, cols = list(rows), list(cols)
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

    def is_cut(self, image: np.ndarray) -> bool:
        import cv2

        if self.threshold <= 0:
            return False
        # every step-th pixel first: the thumbnail's change at the shared clips' cuts and
        # elsewhere is within 1.1 grey levels of a full-frame average, at a twentieth of the cost
        step = max(1, min(image.shape[1] // 128, image.shape[0] // 72))
        thumb = cv2.resize(image[::step, ::step], (64, 36), interpolation=cv2.INTER_AREA)
        thumb = (cv2.cvtColor(thumb, cv2.COLOR_BGR2GRAY) if thumb.ndim == 3 else thumb).astype(np.float32)
        cut = self._previous is not None and float(np.abs(thumb - self._previous).mean()) > self.threshold
        self._previous = thumb
        return cut
