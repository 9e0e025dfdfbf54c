"""Wire a source, the pipeline and the sinks together; always close outputs, whatever happens."""

from __future__ import annotations

import contextlib
import logging
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..data.images import images_under, is_photo_file, real_folders_under
from ..errors import FacesenseError, OutputError, SourceFailed
from ..interrupts import interrupts_held
from ..runs import remove_stale_temps_in, retire
from ..runtime.assets import DEFAULT_AGE, DEFAULT_EXPRESSION, DEFAULT_GENDER
from ..runtime.loading import load_age_model, load_classifier, names_an_age_model, same_model
from .detect import DEFAULT_DETECTOR, build_detector
from .draw import annotate
from .frames import SourceError, check_source, is_live, open_source, source_name
from .pipeline import FaceModels, PipelineSettings, run_pipeline
from .sinks import PHOTO_VIDEO_SIDE, AnnotatedPhotosSink, VIDEO_SUFFIXES, FrameLogSink, SummaryCollector, VideoSink, WindowSink, check_log_path, check_output_folder, check_output_path, finish_sinks, log_columns, photo_copy_path, source_fields, timeline_path, write_summary

log = logging.getLogger(__name__)


@dataclass
class LiveOptions:
    source: str = "0"
    expression: str | None = DEFAULT_EXPRESSION  # model (shipped name, checkpoint, run dir, .onnx) or None
    gender: str | None = DEFAULT_GENDER
    age: str | None = DEFAULT_AGE  # an age model (runtime.loading.load_age_model): gender_age, dlib-age, None
    detector: str = DEFAULT_DETECTOR
    detector_model: str | None = None
    detect_width: int | None = None  # None: 320 px, and for centerface a third of a frame over 960 px wide (runtime.faces.search_width)
    stride: int = 1
    max_frames: int | None = None
    window: bool = False
    show_fps: bool = True  # the measured FPS drawn in the window's and the annotated video's corner
    video_out: Path | None = None
    photos_out: Path | None = None  # a folder for annotated copies of the photos (photo sources only)
    log_csv: Path | None = None
    log_jsonl: Path | None = None
    summary_json: Path | None = None
    stall_timeout: float = 5.0  # a camera or stream with no new frame for this long has failed
    reconnect: float = 0.0  # stream URLs: seconds to keep reopening a stream that stalled or closed
    settings: PipelineSettings = field(default_factory=PipelineSettings)
    device: str = "auto"  # ONNX Runtime device: auto, cpu, cuda

    def outputs(self) -> list[Path]:
        """The outputs asked for (annotated video, photo copies, logs, summary), in that order."""
        return [path for path in (self.video_out, self.photos_out, self.log_csv, self.log_jsonl, self.summary_json) if path]


# how a setting is named in a message: as the command line takes it, or as the Python API does
CLI_OPTION, API_ARGUMENT = "--{} {}", "{}={}"


def check_task(model, option: str, wanted: str, style: str = CLI_OPTION, given: str | None = None) -> None:
    """Refuse a model whose classes are exactly another built-in task's (a gender model given
    as --expression), whatever task it was trained as: its labels would fill the wrong column.
    Other custom class sets pass."""
    from ..labels import TASK_CLASSES, normalise

    classes = {normalise(c) for c in model.classes}
    for task, names in TASK_CLASSES.items():
        if task != wanted and classes == set(names):
            name = given or model.name  # as the user wrote it ('dlib-gender', not its display name)
            instead = f", and give this one as {style.format(task, name)}" if task in ("gender", "expression") else ""
            raise FacesenseError(f"{style.format(option, name)}: is {_a(task)} {task} model (classes {', '.join(model.classes)}), so its labels would be shown as {option}; "
                                 f"give {_a(wanted)} {wanted} model, or 'none'{instead}")


def _a(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _named(option: str, given, style: str, load):
    """load(), its refusal naming the option that gave the model ("model gint-1 not found" did
    not say it was --gender's)."""
    try:
        return load()
    except FacesenseError as exc:
        said, named = str(exc), style.format(option, given)
        # only a message about the model itself: a --device mistake, say, is no --gender's
        own = next((p for p in (f"{given}: ", f"model {given} ", f"{given} ") if said.startswith(p)), None)
        if own is None or said.startswith(named):
            raise
        try:
            renamed = type(exc)(f"{named}: {said[len(own):]}")
        except TypeError:  # a subclass that takes more than the message
            renamed = FacesenseError(f"{named}: {said[len(own):]}")
        raise renamed from None


def load_face_models(expression: str | None, gender: str | None, age: str | None = DEFAULT_AGE, device: str = "auto", style: str = CLI_OPTION) -> FaceModels:
    """`age` DEFAULT_AGE ('auto'): the gender model's own age when it is a gender+age network
    (a user's own network gave its gender beside the shipped network's age), else the shipped
    gender+age network's. A gender+age network that gives both runs once per frame. `style`
    names a setting in messages (CLI_OPTION, API_ARGUMENT)."""
    from ..age import GENDER_AGE_TASK
    from ..runtime.gender_age import SHIPPED_NAME, AgeHead, GenderAgeModel, trained_without, untrained_age

    for option, given in (("expression", expression), ("gender", gender)):
        if given and names_an_age_model(given):  # said in the caller's terms (load_classifier's names --age)
            raise FacesenseError(f"{style.format(option, given)}: estimates ages, not classes; use it as an age model ({style.format('age', given)})")
    gender_model = _named("gender", gender, style, lambda: load_classifier(gender, device=device)) if gender else None
    both = gender_model is not None and getattr(gender_model, "task", "") == GENDER_AGE_TASK
    if both and trained_without(gender_model, "gender"):  # its genders were those of random weights, shown without a word
        raise FacesenseError(f"{style.format('gender', gender)}: was trained for ages only (gender_weight 0), so its gender head learned nothing; "
                             f"give it as {style.format('age', gender)}, with {style.format('gender', 'none')} or a gender model")
    if age == DEFAULT_AGE:
        # a network trained with age_weight 0 learned gender only: its age head is untrained
        own_age = both and not trained_without(gender_model, "age")
        age = gender if own_age else SHIPPED_NAME
        if both and not own_age:
            log.info("%s was trained without ages (age_weight 0): ages come from the shipped %s", gender, SHIPPED_NAME)
    if both and age and same_model(gender, age):
        if trained_without(gender_model, "age"):
            raise untrained_age(style.format("age", age))
        gender_model = GenderAgeModel.of(gender_model)  # one run per frame gives both answers
        age_model = AgeHead(gender_model)
    else:
        age_model = _named("age", age, style, lambda: load_age_model(age, device=device)) if age else None
    expression_model = _named("expression", expression, style, lambda: load_classifier(expression, device=device)) if expression else None
    models = FaceModels(expression_model, gender_model, age_model)
    for model, task, given in ((models.expression, "expression", expression), (models.gender, "gender", gender)):
        if model is not None:
            check_task(model, task, task, style, str(given))
    return models


def check_log_classes(models: FaceModels) -> None:
    """Per-frame logs hold one p_<class> column (JSON key) per class of either model: two custom
    models that share class names (or one model given twice) would overwrite each other's."""
    shared = sorted(set(models.expression.classes) & set(models.gender.classes)) if models.expression and models.gender else []
    if shared:
        names = [getattr(m, "name", "model") for m in (models.expression, models.gender)]
        raise FacesenseError(f"--expression {names[0]} and --gender {names[1]}: the two models share class names ({', '.join(shared)}), so their "
                             "per-class probabilities (p_<class>) would overwrite each other in the per-frame logs; use models with distinct class names, or switch one off")


def check_outputs(opts: LiveOptions) -> None:
    """Every output path (and timing option) is refused before a model loads or a frame is read."""
    if not opts.stall_timeout > 0:
        raise FacesenseError(f"stall_timeout={opts.stall_timeout}: must be > 0 seconds")
    if not opts.reconnect >= 0:
        raise FacesenseError(f"reconnect={opts.reconnect}: must be >= 0 seconds (0 = off)")
    _check_outputs_apart(opts)
    if opts.video_out:
        check_output_path(opts.video_out, "--out", VIDEO_SUFFIXES)
    if opts.photos_out:
        _check_photos_out(opts)
    for value, option in ((opts.log_csv, "--log"), (opts.log_jsonl, "--jsonl"), (opts.summary_json, "--summary")):
        if value:
            check_log_path(value, option)
    _check_outside_source(opts)
    if opts.summary_json and timeline_path(Path(opts.summary_json)).is_dir():
        raise FacesenseError(f"--summary {opts.summary_json}: its timeline {timeline_path(Path(opts.summary_json))} is a folder; choose another --summary name")


def _check_photos_out(opts: LiveOptions) -> None:
    """--photos-out: a folder (made if missing) for a photo folder's or a photo's annotated
    copies, apart from every folder the photos are read from: a copy must never replace a photo."""
    source, out = Path(str(opts.source)), Path(opts.photos_out)
    live = is_live(opts.source)
    if not live and not source.exists():
        return  # opening the source says it is missing
    if live or not (source.is_dir() or is_photo_file(source)):
        clip = " (an animated GIF or PNG is read as a clip)" if source.suffix.lower() in (".gif", ".png") and source.is_file() else ""
        raise FacesenseError(f"--photos-out {out}: is for a photo folder or a photo; for a video{clip}, camera or stream give --out annotated.mp4")
    check_output_folder(out, "--photos-out")
    target = out.resolve()
    if not source.is_dir():  # one photo: its copy goes to FOLDER/<its name>, so only its own folder clashes
        if target in (source.resolve().parent, source.absolute().parent):
            raise FacesenseError(f"--photos-out {out}: is the folder of the photo itself; its annotated copy would replace it, so write it elsewhere")
        _refuse_links_into(out, [source.resolve().parent], [source], source.parent)
        return
    # the real folders a photo folder's photos are read from (the folder, linked albums)
    folders = sorted(map(Path, real_folders_under(source)))
    for folder in folders:
        if target == folder or target.is_relative_to(folder) or folder.is_relative_to(target):
            raise FacesenseError(f"--photos-out {out}: holds or is inside {folder}, where the photos are read from; annotated copies could replace them, so write them elsewhere")
    _refuse_links_into(out, folders, images_under(source), source)


def _refuse_links_into(out: Path, folders: list[Path], photos: list[Path], root: Path) -> None:
    """A link inside --photos-out (left by an earlier run, or made on purpose) on the path of a
    photo's copy that leads into a folder the photos are read from: the copy would land among the
    photos (and be read as one next time). Said before any photo is read, not at the one it hits;
    links elsewhere in the folder are no concern."""
    if not out.is_dir():
        return  # made by this run: nothing in it
    looked = set()
    for photo in photos:
        copy = out / photo_copy_path(photo, root)  # (a converted one's name differs; its folder does not)
        for path in ([copy.parent] if copy.parent not in looked else []) + ([copy] if os.path.islink(copy) else []):
            looked.add(path)
            real = Path(os.path.realpath(path))
            folder = next((f for f in folders if real == f or real.is_relative_to(f)), None)
            if folder is not None:
                raise FacesenseError(f"--photos-out {out}: {path} leads into {folder} through a link, where the photos are read from; annotated copies written there "
                                     f"would land among them: remove the link, or choose another --photos-out")


def _check_outputs_apart(opts: LiveOptions) -> None:
    """Two outputs given one path (`--log out.csv --photos-out out.csv`) would write over each
    other, or fail only once the whole run is done."""
    given: dict[Path, str] = {}
    for option, value in (("--out", opts.video_out), ("--photos-out", opts.photos_out), ("--log", opts.log_csv), ("--jsonl", opts.log_jsonl), ("--summary", opts.summary_json)):
        if not value:
            continue
        path = Path(value).resolve()
        if path in given:
            raise FacesenseError(f"{option} {value}: is also {given[path]}; give each output its own name")
        given[path] = option
    if opts.summary_json:  # its timeline too: a photo run made the folder, then failed to write the plot over it, summary lost
        timeline = timeline_path(Path(opts.summary_json))
        if timeline.resolve() in given:
            raise FacesenseError(f"--summary {opts.summary_json}: its timeline {timeline} is also {given[timeline.resolve()]}; give --summary another name")


def _check_outside_source(opts: LiveOptions) -> None:
    """An output must not replace the source video (outputs are renamed over their paths at
    the end), nor land in a photo folder, where its timeline or annotated copies would be read
    as photos next time (a log may: it is no photo, and a log there was refused as one)."""
    source = Path(str(opts.source))
    if not (source.is_file() or source.is_dir()):
        return  # a camera index or a stream URL
    root = source.resolve()
    if opts.summary_json and timeline_path(Path(opts.summary_json)).resolve() == root:  # replaced by the plot, or removed before a photo run's summary
        raise FacesenseError(f"--summary {opts.summary_json}: its timeline {timeline_path(Path(opts.summary_json))} is the --source file; outputs would overwrite it, "
                             "give --summary another name")
    for option, value in (("--out", opts.video_out), ("--photos-out", opts.photos_out), ("--log", opts.log_csv), ("--jsonl", opts.log_jsonl), ("--summary", opts.summary_json)):
        if not value:
            continue
        path = Path(value).resolve()
        if path == root:
            what = "the --source photo folder" if root.is_dir() else "the --source photo" if is_photo_file(root) else "the --source video"
            raise FacesenseError(f"{option} {path}: is {what}; outputs would overwrite it, give {option} another name")
        # a log there is no photo and is passed over: only what a later run would read or list is kept out
        if root.is_dir() and path.is_relative_to(root) and option not in ("--log", "--jsonl"):
            why = {"--photos-out": "its annotated copies would be read as photos next time", "--summary": "its timeline picture would be read as a photo next time"}.get(
                option, "every run over the folder would list the video among the files it does not read")
            raise FacesenseError(f"{option} {path}: is inside the --source photo folder, where {why}; write it elsewhere")


def _finish(source, sinks: list, collector: SummaryCollector, opts: LiveOptions, broken, lost: list | None = None) -> BaseException | None:
    """Close the source and finish the outputs (none at all when no frame was processed); -> the
    first output that could not be finished (each added to `lost`)."""
    summary = (opts.summary_json,) if opts.summary_json and collector.frames else ()
    interrupted = False
    try:
        try:
            source.close()  # joins the capture thread (a camera's may take seconds): nothing is left reading
        finally:  # even after a second Ctrl-C there: the old summary does not stay beside new outputs
            if summary:  # the new outputs replace the old ones: their summary goes first
                timeline = timeline_path(Path(opts.summary_json))
                # (a photo run draws no timeline, and an annotated photo of that name is its own output)
                copied = any(isinstance(sink, AnnotatedPhotosSink) and sink.holds(timeline) for sink in sinks)
                retire(Path(opts.summary_json), *([] if copied else [timeline]))
    except KeyboardInterrupt:  # a second Ctrl-C while the source closed: the outputs are still finished
        interrupted = True
    finally:  # even after a second Ctrl-C: no temp file stays
        for sink in sinks:
            if isinstance(sink, VideoSink):
                sink.end_s = getattr(source, "end_s", None)
        # the summary is written after the others: an interruption now leaves it unwritten too
        failure = finish_sinks(sinks, keep=collector.frames > 0, broken=broken, lost=lost, then=summary)
    if interrupted and failure is None:
        failure = KeyboardInterrupt(f"interrupted while the outputs were being finished: {', '.join(map(str, summary)) or 'nothing'} not kept; the others hold every frame before the interruption")
    return failure


def _file_names(sinks) -> list[str]:
    """The files of these outputs (a window writes none)."""
    return [str(sink.path) for sink in sinks if getattr(sink, "path", None) is not None]


def _kept_with_frames(sinks: list, failed: list, frames: int) -> str:
    """The outputs kept after `failed[0]` broke mid-frame (the others in `failed` could not be
    finished), each with its frame count ("a.mp4 (6 frames)"): those before the broken one in
    the list got the failing frame too."""
    before = sinks.index(failed[0])
    return ", ".join(f"{sink.path} ({frames + (i < before)} frames)" for i, sink in enumerate(sinks)
                     if sink not in failed and getattr(sink, "path", None) is not None)


def run_live(opts: LiveOptions, on_frame=None) -> dict:
    """Run the pipeline over `opts.source` into the chosen outputs; -> the summary dict. A source
    that fails after the start does not raise: its message is the summary's `error` (outputs
    hold everything up to it; the CLI exits 3). A source that gives no frame at all raises."""
    # a file:// video is checked as the file it is; a source refused without opening it, before models load
    opts = replace(opts, source=check_source(opts.source, opts.stride, opts.reconnect))
    check_outputs(opts)
    for folder in {Path(path).absolute().parent for path in (opts.video_out, opts.log_csv, opts.log_jsonl, opts.summary_json) if path}:
        remove_stale_temps_in(folder)  # a killed run's, of outputs this one may not ask for
    if not (opts.expression or opts.gender or opts.age):
        log.info("no classifier enabled: detection and tracking only")
    try:
        models = load_face_models(opts.expression, opts.gender, opts.age, opts.device)
        if opts.log_csv or opts.log_jsonl:
            check_log_classes(models)
        detector = build_detector(opts.detector, opts.detector_model, opts.detect_width, opts.device)
        source = open_source(opts.source, stride=opts.stride, stall_timeout=opts.stall_timeout, reconnect=opts.reconnect, cut_thumbnails=opts.settings.cut_threshold > 0)
    except KeyboardInterrupt:  # while loading: nothing was written yet
        raise KeyboardInterrupt("before the first frame; earlier outputs at these paths are left as they were") from None
    expression, gender = models.expression, models.gender
    name = source_name(opts.source)  # for logs and the summary: a stream URL without its password
    sinks = []
    broken = None  # the sink whose write failed (a full disk): discarded, not finished
    error = None
    collector = SummaryCollector()
    try:
        if opts.video_out:
            fps = (source.fps or 30.0) / (opts.stride if not source.live else 1)
            sinks.append(VideoSink(opts.video_out, fps, PHOTO_VIDEO_SIDE if source.photos else None, stride=opts.stride if not source.live else 1))
        if opts.photos_out:
            sinks.append(AnnotatedPhotosSink(opts.photos_out, source.folder, source.files))
        columns = log_columns(expression.classes if expression else [], gender.classes if gender else [], age=models.age is not None)
        if opts.log_csv:
            sinks.append(FrameLogSink(opts.log_csv, columns, "csv", name))
        if opts.log_jsonl:
            sinks.append(FrameLogSink(opts.log_jsonl, columns, "jsonl", name))
        window = WindowSink() if opts.window else None
        if window:
            sinks.append(window)
        needs_drawing = opts.video_out is not None or opts.photos_out is not None or window is not None
        recent: list[float] = []
        track_colours: dict[int, int] = {}  # each track keeps its colour through the video
        for result in run_pipeline(source, detector, models, opts.settings, opts.max_frames):
            t0 = time.perf_counter()
            recent = (recent + [t0])[-30:]
            fps = (len(recent) - 1) / (recent[-1] - recent[0]) if len(recent) > 1 and recent[-1] > recent[0] else None
            annotated = annotate(result, None if source.photos or not opts.show_fps else fps, colours=track_colours) if needs_drawing else None  # a photo has no frame rate
            with interrupts_held():  # every output gets the frame, or none does: a Ctrl-C mid-way is taken after it
                for sink in sinks:
                    try:
                        sink.write(result, annotated)
                    except Exception:  # not a Ctrl-C: that keeps every file, as a stop between frames does
                        broken = sink
                        raise
                collector.add(result, time.perf_counter() - t0)
            if on_frame is not None:
                on_frame(result)
            if window is not None and window.quit:
                break
    except (SourceError, SourceFailed) as exc:
        error = str(exc)  # keep what was processed; report the fault in the summary
    except KeyboardInterrupt:
        error = "interrupted"
    except BaseException as exc:
        lost: list = []
        _finish(source, sinks, collector, opts, broken, lost)  # the error in flight is the one to report
        if isinstance(exc, OutputError) and broken is not None and collector.frames:  # (a full disk) the outputs kept are partial: say so
            kept = _kept_with_frames(sinks, [broken, *lost], collector.frames)
            if kept:
                not_kept = _file_names(sink for sink in lost if sink is not broken) + ([str(opts.summary_json)] if opts.summary_json else [])
                raise OutputError(f"{exc}; kept with the frames before it: {kept}" + (f" (not kept: {', '.join(not_kept)})" if not_kept else "")) from None
        raise
    # the run's frames are done: its outputs are finished and its summary written. A first
    # Ctrl-C (or SIGTERM) that lands meanwhile waits until they are: taken at once, it lost the
    # whole annotated video as it was closed, or the summary as its figure was drawn. After a
    # Ctrl-C that stopped the run, the next one acts at once (a write that hangs can be stopped).
    finishing = contextlib.nullcontext() if error == "interrupted" else interrupts_held()
    try:
        with finishing:
            summary = _complete(source, sinks, collector, opts, broken, error, name, models)
    except KeyboardInterrupt as exc:
        if str(exc) or error == "interrupted":
            raise
        outputs = [str(path) for path in opts.outputs()]
        kept = f"{', '.join(outputs)} {'hold' if len(outputs) > 1 else 'holds'}" if outputs else "no output was asked for; the run read"
        raise KeyboardInterrupt(f"after the last frame, as the outputs were being finished: {kept} all {collector.frames} of its frames") from None
    return summary


def _complete(source, sinks: list, collector: SummaryCollector, opts: LiveOptions, broken, error: str | None, name: str, models: FaceModels) -> dict:
    """Finish the outputs of a run whose frames are done, and write its summary (last) -> the summary."""
    expression = models.expression
    unfinished: list = []
    failure = _finish(source, sinks, collector, opts, broken, unfinished)
    # an output that failed as it was closed (a full disk met by the video's final pass): the run
    # is done and the others hold all of it, so its summary is written too, and the error says so
    closing_failed = isinstance(failure, OutputError) and collector.frames > 0
    if failure is not None and not closing_failed:
        raise failure
    if collector.frames == 0 and error != "interrupted":
        nothing = "no photo could be read (each was skipped above)" if source.photos else "no frame could be read (empty, truncated, or not a video)"
        raise SourceError(error or f"{opts.source}: {nothing}")
    summary = collector.summary(dropped=source.dropped, error=error) | source_fields(source, name, opts.detector, models.names())
    # an output that could not be finished (see closing_failed): the summary would read as a complete set without it
    summary["outputs_not_kept"] = [{"output": str(sink.path), "reason": str(failure)} for sink in unfinished if getattr(sink, "path", None) is not None]
    if source.live and source.dropped and getattr(source, "declared_frames", 0):  # a file on a web server, read as a stream
        log.warning("%s: a video file of %d frames read as a live stream: %d frames were dropped to keep up; to analyse every frame, download it and give the file", name, source.declared_frames, source.dropped)
    summary_lost = False
    if opts.summary_json and collector.frames:  # no frame: the earlier outputs and their summary stay
        try:
            summary["timeline_plot"] = None  # the key is always there (null: no plot)
            if expression and not source.photos:  # photos have no time to plot over: each track is one photo
                plot = collector.plot_timeline(timeline_path(Path(opts.summary_json)), expression.classes)
                summary["timeline_plot"] = str(plot) if plot else None
            write_summary(Path(opts.summary_json), summary)  # last: it marks the set complete
        except KeyboardInterrupt:  # a second Ctrl-C: the rest is complete, the summary is not there
            raise KeyboardInterrupt(f"while the summary was being written: {opts.summary_json} not kept; the other outputs hold every frame before the interruption") from None
        except OutputError as exc:  # (a folder made read-only mid-run) the first failure is the one to tell, with this one
            if not closing_failed:
                raise
            failure, summary_lost = f"{failure}; {exc}", True
    if closing_failed:
        kept = _file_names(sink for sink in sinks if sink not in unfinished) + ([str(opts.summary_json)] if opts.summary_json and not summary_lost else [])
        not_kept = _file_names(unfinished)
        raise OutputError(f"{failure}; " + (f"kept with all {collector.frames} frames: {', '.join(kept)}" if kept else "no output was kept")
                          + (f" (not kept: {', '.join(not_kept)})" if len(not_kept) > 1 else "")) from None
    return summary
