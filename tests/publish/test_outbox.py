"""The on-disk outbox: ordered, durable across reopen, bounded with room kept for alerts."""

from __future__ import annotations

from monitor.publish import Outbox


def fill(box: Outbox, n: int, kind: str = "alert") -> None:
    for i in range(n):
        assert box.append(kind, {"data": f"m{i}"}, f"id-{i}")


def test_records_come_back_in_the_order_they_were_appended(tmp_path):
    box = Outbox(tmp_path, 10**6, 10**6)
    fill(box, 5)
    assert [r.message_id for r in box.peek(10)] == [f"id-{i}" for i in range(5)]
    assert [r.message_id for r in box.peek(2)] == ["id-0", "id-1"]


def test_confirmed_records_are_not_read_again_even_after_a_restart(tmp_path):
    box = Outbox(tmp_path, 10**6, 10**6)
    fill(box, 5)
    box.confirm(box.peek(2)[-1])
    box.close()
    reopened = Outbox(tmp_path, 10**6, 10**6)
    assert [r.message_id for r in reopened.peek(10)] == ["id-2", "id-3", "id-4"]
    assert reopened.peek(1)[0].fields == {"data": "m2"}


def test_the_file_is_emptied_once_everything_is_delivered(tmp_path):
    box = Outbox(tmp_path, 10**6, 10**6)
    fill(box, 3)
    box.confirm(box.peek(10)[-1])
    assert box.empty() and box.pending_bytes == 0
    assert (tmp_path / "outbox.jsonl").stat().st_size == 0
    fill(box, 1)
    assert [r.message_id for r in box.peek(10)] == ["id-0"]


def reopened_after(tmp_path, records: int, raw: bytes) -> Outbox:
    """An outbox with `records` records, closed, `raw` bytes appended to its file, opened again."""
    box = Outbox(tmp_path, 10**6, 10**6)
    fill(box, records)
    box.close()
    with open(tmp_path / "outbox.jsonl", "ab") as f:
        f.write(raw)
    return Outbox(tmp_path, 10**6, 10**6)


def test_a_half_written_last_record_is_cut_and_the_rest_survive(tmp_path):
    reopened = reopened_after(tmp_path, 2, b'{"kind":"alert","id":"torn","fie')
    assert [r.message_id for r in reopened.peek(10)] == ["id-0", "id-1"]


def test_a_corrupt_record_is_skipped_without_blocking_later_ones(tmp_path):
    reopened = reopened_after(tmp_path, 1, b"not json\n")
    reopened.append("alert", {"data": "late"}, "late")
    assert [r.kind for r in reopened.peek(10)] == ["alert", "", "alert"]
    assert reopened.peek(10)[2].message_id == "late"


def test_other_kinds_stop_at_their_share_so_alerts_keep_the_rest(tmp_path):
    box = Outbox(tmp_path, max_bytes=4000, other_max_bytes=1000)
    while box.append("description", {"data": "x" * 50}, "d"):
        pass
    assert box.dropped == {"description": 1}
    assert 900 < box.pending_bytes <= 1000
    while box.append("alert", {"data": "y" * 50}, "a"):
        pass
    assert box.dropped == {"description": 1, "alert": 1}
    assert 3900 < box.pending_bytes <= 4000


def test_a_cursor_left_past_the_data_by_a_crash_resends_everything(tmp_path):
    box = Outbox(tmp_path, 10**6, 10**6)
    fill(box, 2)
    box.close()
    (tmp_path / "outbox.cursor").write_text("999999")
    assert len(Outbox(tmp_path, 10**6, 10**6).peek(10)) == 2
