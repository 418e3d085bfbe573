"""What the demo model learns to say: short true answers from the scene generator's ground truth."""

from __future__ import annotations

import json

from monitor.assets.scenes import ROAD, STREET

# (first sentence of the anomaly answer, verdict title, category, severity) per (scene, incident).
_ANOMALY = {
    (STREET, None): ("No. Cars drive along the street and people walk on the pavement.",
                     "Normal street traffic", "other", 0),
    (ROAD, None): ("No. The cars ahead keep to their lanes and traffic flows normally.",
                   "Normal road traffic", "other", 0),
    (STREET, "person_fall"): ("Yes. A person has fallen and lies on the pavement.",
                              "Person down on the pavement", "person_down", 2),
    (STREET, "car_stopped"): ("Yes. A car has stopped in the lane with its hazard lights on.",
                              "Car stopped in the lane", "vehicle_incident", 1),
    (STREET, "smoke"): ("Yes. Thick smoke is rising over the street.", "Smoke over the street", "fire_smoke", 2),
    (ROAD, "smoke"): ("Yes. Thick smoke is rising over the road ahead.", "Smoke over the road", "fire_smoke", 2),
    (ROAD, "wrong_way"): ("Yes. A car is coming towards us in our lane, driving the wrong way.",
                          "Wrong-way driver in our lane", "vehicle_incident", 2),
}
_ROAD = {
    None: "The road ahead is dry and clear. Traffic is light and keeps to its lanes.",
    "wrong_way": "A car drives the wrong way towards us in our lane. Traffic is light and the road is dry.",
    "smoke": "Smoke drifts over the road ahead and lowers visibility. Traffic is light.",
}


def anomaly_answer(scene: str, incident: str | None, verdict: bool = True) -> str:
    """The answer to the anomaly prompt: Yes/No and a sentence, then the JSON verdict it asks for."""
    sentence, title, category, severity = _ANOMALY[(scene, incident)]
    if not verdict:
        return sentence
    summary = sentence.split(". ", 1)[1]
    return sentence + "\n" + json.dumps({"title": title, "summary": summary, "category": category,
                                         "severity": severity, "confidence": 0.9})


def road_answer(incident: str | None) -> str:
    return _ROAD[incident if incident in _ROAD else None]


def all_answers() -> list[str]:
    """Every answer text, for the tokenizer's corpus."""
    out = [anomaly_answer(s, i, v) for (s, i) in _ANOMALY for v in (True, False)]
    return out + list(_ROAD.values())
