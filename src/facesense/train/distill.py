"""Knowledge distillation: a small student learns from the softened outputs of one or more
larger teachers (Hinton et al., 2015). The teachers see the same augmented batch as the student."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import torch
from torch.nn import functional as F

from ..checkpoint import load_model, resolve_model_path, save_payload
from ..errors import FacesenseError
from ..preprocess import InputSpec, denormalise, normalise

log = logging.getLogger(__name__)


def existing_teacher_file(path: str | Path) -> Path:
    """The teacher checkpoint's path (a run folder gives its best.pt, a shipped model name its
    file), failing with one line when there is none."""
    try:
        found = resolve_model_path(path)
    except FacesenseError as exc:
        if not Path(path).exists():
            raise FacesenseError(f"teacher={path}: file not found (give a run folder, a facesense .pt checkpoint or a shipped model name)") from None
        raise FacesenseError(f"teacher={exc}") from None
    if found.suffix.lower() == ".onnx":  # an export: torch read it as a damaged pickle ('invalid load key')
        raise FacesenseError(f"teacher={path}: an ONNX export cannot teach (training needs its PyTorch weights); give the run folder it was exported from, or its best.pt")
    return found


def warn_of_teachers_trained_on_held_out_rows(paths: list[str], splits: dict) -> None:
    """A teacher trained on rows the student holds out (another seed's draw of the same data)
    passes their labels on through its targets: the student's validation figures, and the epoch
    they chose, lean optimistic. Said per teacher and split, by the pixels its run recorded
    (a teacher without a run folder or a shipped model's hashes is not checked)."""
    from ..data.digests import pixel_digest
    from ..runtime.assets import carried_digests

    held = {name: [pixel_digest(image.numpy()) for image in splits[name].images] for name in ("val", "test") if len(splits[name])}
    if not held:
        return
    for path in paths:
        taught = carried_digests(None, path)
        for name, digests in held.items() if taught else ():
            shared = sum(d in taught for d in digests)
            part = "validation" if name == "val" else "test"
            if shared:
                log.warning("teacher=%s trained on %d of this run's %d %s rows (the same pixels): its targets carry their labels, so the %s figures lean optimistic%s; "
                            "give a teacher trained without them (the same data, seed and split settings as this run)", path, shared, len(digests),
                            part, part, " and the best epoch rests on them" if name == "val" else "")


def teacher_digest(path: str | Path) -> str:
    """A teacher file's sha256: a resumed run refuses teachers changed since it started."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def check_same_teachers(paths: list[str], started: list[str] | None) -> None:
    """A resumed run learns from the teachers it started with (`started`: their digests, from its
    checkpoint); said before the data are read or a cached teacher scores them."""
    if not started:
        return
    for path, digest in zip(paths, started):
        file = existing_teacher_file(path)
        if teacher_digest(file) != digest:
            raise FacesenseError(f"teacher={file}: the file changed since the run started (its bytes differ); a resumed run learns from the teachers it started with: put that file back, or start a new run")


class Teachers:
    """An ensemble of frozen facesense checkpoints; their probabilities at temperature T are averaged."""

    def __init__(self, paths: list[str], classes: list[str], spec: InputSpec, device: torch.device):
        self.paths = [str(existing_teacher_file(p)) for p in paths]
        self.digests = [teacher_digest(p) for p in self.paths]  # recorded in each checkpoint
        self.k = len(classes)
        self.spec = spec
        self.models = []
        self.inputs = []  # per teacher: its own input spec where its mean or std differ from the student's, else None
        for path in self.paths:
            loaded = load_model(path)
            if loaded.binary_logit:
                raise FacesenseError(f"teacher={path}: a one-logit (loss=bce) model cannot be a teacher; train it with loss=ce")
            if loaded.classes != classes:
                raise FacesenseError(f"teacher={path}: classes {loaded.classes} differ from the student's {classes}")
            if (loaded.spec.size, loaded.spec.channels) != (spec.size, spec.channels):
                raise FacesenseError(f"teacher={path}: input {loaded.spec.size}x{loaded.spec.size}x{loaded.spec.channels} differs from the student's {spec.size}x{spec.size}x{spec.channels}")
            if (loaded.spec.align is None) != (spec.align is None) or (spec.align is not None and tuple(map(tuple, loaded.spec.align)) != tuple(map(tuple, spec.align))):
                raise FacesenseError(f"teacher={path}: it was trained on {'aligned faces' if loaded.spec.align is not None else 'plain crops'} and the student on "
                                     f"{'aligned faces' if spec.align is not None else 'plain crops'} (align), so it would score faces unlike its own; "
                                     "give the student the teacher's align setting, or another teacher")
            # (a teacher trained with input_mean 0.5 saw each student's batch brighter than it learned faces)
            self.inputs.append(loaded.spec if (loaded.spec.mean, loaded.spec.std) != (spec.mean, spec.std) else None)
            # channels_last: the students' batches come in that layout, and bfloat16 convolutions
            # with matching weights ran ~1.5x faster on the 2-core CPU
            self.models.append(loaded.model.to(device).to(memory_format=torch.channels_last).eval())

    @torch.no_grad()
    def soft_targets(self, x: torch.Tensor, temperature: float, flip: bool = False) -> torch.Tensor:
        """Averaged teacher probabilities at temperature T; with `flip`, also averaged over the
        mirror image (one forward of the doubled batch), which makes the targets mirror-invariant
        like a flip-averaged ensemble."""
        n = len(x)
        if flip:
            x = torch.cat([x, torch.flip(x, dims=[3])])
        probs = torch.stack([torch.softmax(m(x if own is None else normalise(denormalise(x, self.spec), own)).float() / temperature, dim=1)
                             for m, own in zip(self.models, self.inputs)]).mean(0)
        return (probs[:n] + probs[n:]) / 2 if flip else probs

    def cached_targets(self, batches, temperature: float, cache_dir: Path, amp) -> torch.Tensor:
        """Soft targets for every sample of `batches` (an unshuffled, unaugmented pass), each the
        average over the teachers and over the image and its mirror. Kept in `cache_dir` under a
        key made of the teachers' bytes, T, the student's input settings and the samples (ids and
        pixels), so a resumed run, or another student of the same teachers on the same data, does
        not score again, and no other data (a csv of as many rows) reads its targets."""
        key = self._cache_key(temperature, batches.data.ids, batches.data.images)
        cache = Path(cache_dir) / f"teacher_targets-{key[:20]}.pt"
        if cache.is_file():
            saved = torch.load(cache, map_location="cpu", weights_only=True)
            if saved.get("key") == key:
                log.info("teacher targets read from %s", cache)
                return saved["targets"]
        device = next(self.models[0].parameters()).device
        n = len(batches.data)
        out = torch.empty(n, self.k, dtype=torch.float32)
        for x, _, idx in batches:
            with amp():
                # channels_last: measured 2x faster for bfloat16 convolutions on the CPU
                out[idx] = self.soft_targets(x.to(device).contiguous(memory_format=torch.channels_last), temperature, flip=True).cpu()
        cache.parent.mkdir(parents=True, exist_ok=True)
        save_payload({"key": key, "targets": out}, cache)
        log.info("teacher targets for %d samples cached in %s", n, cache)
        return out

    def _cache_key(self, temperature: float, ids: list[str], images: torch.Tensor) -> str:
        h = hashlib.sha256(repr(float(temperature)).encode())
        for path in self.paths:
            h.update(Path(path).read_bytes())
        h.update(repr(self.spec.to_dict()).encode())  # the mean, std and crop the teachers' inputs were made with
        h.update("\n".join(ids).encode())
        h.update(images.cpu().contiguous().numpy())  # (FER2013's 28,709 training faces: 66 MB, hashed in under 0.1 s)
        return h.hexdigest()


def distillation_loss(student_logits: torch.Tensor, soft_targets: torch.Tensor, temperature: float) -> torch.Tensor:
    """KL(teacher || student) at temperature T, times T^2 so its gradients keep their scale."""
    log_p = F.log_softmax(student_logits.float() / temperature, dim=1)
    return F.kl_div(log_p, soft_targets, reduction="batchmean") * temperature**2
