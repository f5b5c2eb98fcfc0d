"""Study B: end-to-end event classification from calorimeter images.

Collision events from Pythia 8 (pp at 13 TeV, p̂_T > 1 TeV) through calolab's ATLAS-like
tower response, as η–φ images with three channels (ECAL E_T, HCAL E_T, track p_T), clipped
and scaled to 0–255 as in the study (after Andrews et al. 2020); a CNN trained from scratch
with Adam (lr 5·10⁻⁴, cross-entropy) and random flips; test accuracy, AUC and confusion
matrix. The study's classes were tt̄, black holes and sphalerons (BlackMax, Herwig), which
Pythia cannot generate: calolab separates tt̄ from QCD dijets (and W + jet at full size),
the study's "easy" pair and a harder one.

    python examples/event-images/run.py --quick --output build/examples/event-images

``--quick``: tt̄ vs QCD, 3,000 training and 1,000 test events, 32 × 32 images, a small CNN, a few
minutes on 2 cores. Default: tt̄, QCD and W + jet, 10,000 events each (80/20 split),
100 × 100 images, ResNet-18 for 10 epochs (use ``--device cuda``).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from study import Study, options, run, train_and_evaluate  # noqa: E402

from calolab.events import ImageConfig, generate_events  # noqa: E402
from calolab.events.pythia import GeneratorConfig  # noqa: E402

#: Study B's accuracies (three classes).
STUDY_ACCURACY = {"resnet18": 0.860, "resnet34": 0.870}


def main() -> int:
    args = options(__doc__.split("\n")[0], "event-images")
    study = Study("event-images", args)
    if args.quick:
        classes, n_train, n_test, pixels = ("ttbar", "qcd"), 3000, 1000, 32
        model, model_opts, train_kw = "cnn", {}, {"epochs": 6, "batch_size": 32}
    else:
        classes, n_train, n_test, pixels = ("ttbar", "qcd", "wjets"), 24000, 6000, 100
        model, model_opts, train_kw = "resnet18", {}, {"epochs": 10, "batch_size": 64}
    procs = [GeneratorConfig(c, pthat_min_gev=1000) for c in classes]
    image = ImageConfig(n_eta=pixels, n_phi=pixels)
    train_file, test_file = study.out / "train.h5", study.out / "test.h5"
    study.log(f"generating {n_train} + {n_test} events of {', '.join(classes)} with Pythia 8")
    generate_events(procs, n_train, train_file, seed=args.seed, image=image)
    generate_events(procs, n_test, test_file, seed=args.seed + 1000, image=image)
    _, ev, _ = train_and_evaluate(
        study,
        model,
        model,
        train_file,
        test_file,
        options=model_opts,
        data_kw={"kind": "images", "target": "particle", "classes": classes},
        task="classification",
        loss="cross-entropy",
        optimizer="adam",
        lr=5e-4,
        schedule="none",
        **train_kw,
    )
    c = ev.classification
    assert c is not None
    study.number("classes", list(classes))
    study.number("accuracy", c.accuracy)
    study.number("auc", {p.name: p.auc for p in c.pairs})
    study.number("confusion_matrix", [list(r) for r in c.confusion_matrix])
    study.compare(
        f"test accuracy ({len(classes)} classes, {model}, {n_train} training events)",
        round(c.accuracy, 3),
        f"{STUDY_ACCURACY['resnet18']} (ResNet-18, 3 classes incl. black holes and sphalerons, "
        "24k training events)",
    )
    chance = 1.0 / len(classes)
    se = math.sqrt(chance * (1 - chance) / ev.n_events)
    study.check(
        "accuracy above chance",
        c.accuracy,
        lo=chance + 4 * se,
        why=f"tt̄ and QCD differ at this p̂_T: chance is {chance:.2f}, 4 binomial standard errors",
    )
    study.check(
        "sanity warnings",
        float(len(ev.warnings)),
        hi=0,
        why="evaluate's checks pass",
    )
    return study.finish()


if __name__ == "__main__":
    run(main)
