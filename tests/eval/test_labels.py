"""Labels as published: our CSV, UCF-Crime's temporal annotations, XD-Violence's annotations."""

from __future__ import annotations

import pytest

from monitor.eval.labels import LabelError, load_labels


def touch(folder, *names):
    for name in names:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\0")


def test_ucf_crime_annotations_give_frame_intervals_and_find_videos_in_class_folders(tmp_path):
    touch(tmp_path, "Arson/Arson011_x264.mp4", "Testing_Normal_Videos_Anomaly/Normal_Videos_003_x264.mp4",
          "Burglary/Burglary033_x264.mp4")
    labels = tmp_path / "Temporal_Anomaly_Annotation_for_Testing_Videos.txt"
    labels.write_text("Arson011_x264.mp4  Arson  150  420  680  1267\n"
                      "Burglary033_x264.mp4  Burglary  60  300  -1  -1\n"
                      "Normal_Videos_003_x264.mp4  Normal  -1  -1  -1  -1\n")
    arson, burglary, normal = load_labels(labels, tmp_path)
    assert arson.path.parent.name == "Arson" and arson.in_frames
    assert arson.intervals == [(150, 420), (680, 1267)] and burglary.intervals == [(60, 300)]
    assert normal.intervals == [] and normal.whole == 0 and not normal.positive


def test_xd_violence_annotations_add_the_unlisted_label_a_videos_as_normal(tmp_path):
    violent = "Bad.Boys.1995__#01-11-55_01-12-40_label_G-B2-B6"
    calm = "A.Beautiful.Mind.2001__#00-25-20_00-29-20_label_A"
    touch(tmp_path, f"{violent}.mp4", f"{calm}.mp4")
    labels = tmp_path / "annotations.txt"
    labels.write_text(f"{violent} 0 74 102 333\n")
    videos = {v.name: v for v in load_labels(labels, tmp_path)}
    assert videos[violent].intervals == [(0, 74), (102, 333)] and videos[violent].in_frames
    assert videos[calm].whole == 0 and videos[calm].intervals == []


def test_csv_labels_take_whole_clip_labels_or_intervals_in_seconds(tmp_path):
    touch(tmp_path, "a.mp4", "b.mp4")
    whole = tmp_path / "whole.csv"
    whole.write_text("clip,label\na.mp4,1\nb.mp4,0\n")
    a, b = load_labels(whole, tmp_path)
    assert (a.whole, b.whole, a.in_frames) == (1, 0, False)
    spans = tmp_path / "spans.csv"
    spans.write_text("video,start,end\na.mp4,1.5,4\na.mp4,9,12.25\nb.mp4,,\n")
    a, b = load_labels(spans, tmp_path)
    assert a.intervals == [(1.5, 4.0), (9.0, 12.25)] and b.intervals == [] and not b.positive


def test_bad_labels_name_the_file_and_line(tmp_path):
    touch(tmp_path, "a.mp4")
    bad = tmp_path / "bad.csv"
    bad.write_text("clip,start,end\na.mp4,5,2\n")
    with pytest.raises(LabelError, match=r"bad.csv:2: end must come after start"):
        load_labels(bad, tmp_path)
    missing = tmp_path / "missing.csv"
    missing.write_text("clip,label\nnope.mp4,1\n")
    with pytest.raises(LabelError, match="nope.mp4' not found"):
        load_labels(missing, tmp_path)
