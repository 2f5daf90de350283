"""Market calibration: data reading, the curve-to-market mapping, recovery and SBC."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
import pytest

from forecast.calibrate import (
    DEFAULT_DATA,
    Announcements,
    adoption_model,
    agent_market_draws,
    agent_users_at,
    month_middle,
    read_announcements,
    round_down_to_leading_unit,
    sample_model,
)
from forecast.errors import InputError

TRUTH = {"level": 650.0, "headroom": 1.2, "rate": 0.12, "noise": 0.04}
FIT_MONTHS = np.linspace(-20.0, 8.0, 10)


def synthetic(months: np.ndarray, truth: dict[str, float], rng) -> Announcements:
    """Announcements simulated by the adoption model itself: curve, error, rounding down."""
    curve = (
        truth["level"]
        * (1 + truth["headroom"])
        / (1 + truth["headroom"] * np.exp(-truth["rate"] * months))
    )
    exact = curve * np.exp(rng.normal(0.0, truth["noise"], len(months)))
    users = round_down_to_leading_unit(exact)
    return Announcements(
        path=Path("synthetic.csv"),
        sha256="",
        dates=tuple(str(m) for m in months),
        months=months,
        users=users,
        rounding=10.0 ** np.floor(np.log10(users)),
    )


def test_read_announcements_shipped_copy():
    data = read_announcements(DEFAULT_DATA)
    assert len(data.users) == 8
    assert data.users[0] == 100.0
    assert data.users[-1] == 900.0
    assert np.all(data.rounding == 100.0)
    assert data.sha256 == hashlib.sha256(DEFAULT_DATA.read_bytes()).hexdigest()


def test_read_announcements_month_offsets():
    data = read_announcements(DEFAULT_DATA)
    # 2023-11-06 is 587 days before 2025-06-15: 587 / 30.4375 months.
    assert data.months[0] == pytest.approx(-587 / 30.4375)


def test_read_announcements_rejects_negative_figure(tmp_path):
    path = tmp_path / "users.csv"
    path.write_text("date,weekly_active_users_millions,source\n2024-01-01,-5,x\n")
    with pytest.raises(InputError, match=r"row 2, column weekly_active_users_millions"):
        read_announcements(path)


def test_read_announcements_rejects_missing_source(tmp_path):
    path = tmp_path / "users.csv"
    path.write_text("date,weekly_active_users_millions,source\n2024-01-01,5,\n")
    with pytest.raises(InputError, match=r"row 2, column source: announcement has no source"):
        read_announcements(path)


def test_round_down_leading_unit_values():
    rounded = round_down_to_leading_unit(np.array([149.0, 999.9, 1234.0, 87.0]))
    assert rounded.tolist() == [100.0, 900.0, 1000.0, 80.0]


def test_agent_market_draws_hand_values():
    # Curve 700M at mid-June 2025 with headroom 1 (ceiling 1.4B) and rate 0.1;
    # agent users trail it by 12 months and are 7M in June 2025.
    posterior = {"level": np.array([700.0]), "headroom": np.array([1.0]), "rate": np.array([0.1])}
    lag = np.array([12.0])
    market = agent_market_draws(posterior, np.array([7e6]), lag, "2025-06")
    chatbot_year_before = 1400e6 / (1 + math.exp(1.2))
    assert month_middle("2025-06") == 0.0
    assert market["scale"][0] == pytest.approx(7e6 / chatbot_year_before)
    assert market["market_ceiling"][0] == pytest.approx(1400e6 * 7e6 / chatbot_year_before)
    assert market["market_growth_rate"][0] == 0.1


def test_agent_users_at_matches_model_logistic():
    # The calibrated market must be the model's own logistic through the reference level.
    from forecast.blocks import agent_users

    posterior = {"level": np.array([640.0]), "headroom": np.array([1.5]), "rate": np.array([0.11])}
    lag = np.array([21.0])
    market = agent_market_draws(posterior, np.array([7.5e6]), lag, "2026-06")
    months_later = month_middle("2028-06") - month_middle("2026-06")
    via_model = agent_users(market, np.array([months_later]))
    direct = agent_users_at(posterior, market["scale"], lag, "2028-06")
    assert via_model[0] == pytest.approx(direct[0], rel=1e-9)


def test_adoption_fit_recovers_known_parameters():
    model = None
    covered = {"level": 0, "rate": 0, "headroom": 0}
    repetitions = 4
    for repetition in range(repetitions):
        data = synthetic(FIT_MONTHS, TRUTH, np.random.default_rng(100 + repetition))
        if model is None:
            model = adoption_model(data)
        else:
            import pymc as pm

            with model:
                pm.set_data({"months": data.months, "users": data.users, "rounding": data.rounding})
        tree = sample_model(
            model, draws=400, tune=400, chains=2, seed=repetition, target_accept=0.95
        )
        for name in covered:
            draws = tree["posterior"][name].values.reshape(-1)
            low, high = np.quantile(draws, [0.05, 0.95])
            covered[name] += int(low <= TRUTH[name] <= high)
    assert covered["level"] >= repetitions - 1
    assert covered["rate"] >= repetitions - 1
    assert covered["headroom"] >= repetitions - 1


def test_adoption_model_simulation_based_calibration():
    """Ranks of prior-drawn truths among their posteriors are uniform (Talts et al. 2018).

    Thirty series are drawn from the priors and fitted in one NUTS run of the
    batched model, whose posterior factorises by series. Each truth's rank among
    100 thinned posterior draws is pooled into five bins; a miscalibrated
    likelihood (for example rounding assumed up instead of down) piles ranks
    into the end bins and fails the chi-square test.
    """
    from scipy import stats

    from forecast.calibrate import ADOPTION_PRIORS, batched_adoption_model, leading_unit

    replicates = 30
    rng = np.random.default_rng(2026)
    months = read_announcements(DEFAULT_DATA).months
    truth = {
        name: np.exp(rng.normal(mu, sigma, replicates))
        for name, (mu, sigma) in ADOPTION_PRIORS.items()
    }
    curve = truth["level"][:, None] * (1 + truth["headroom"][:, None])
    curve = curve / (1 + truth["headroom"][:, None] * np.exp(-truth["rate"][:, None] * months))
    exact = curve * np.exp(rng.normal(0.0, 1.0, curve.shape) * truth["noise"][:, None])
    users = round_down_to_leading_unit(exact)
    model = batched_adoption_model(np.broadcast_to(months, users.shape), users, leading_unit(users))
    tree = sample_model(model, draws=500, tune=500, chains=2, seed=7, target_accept=0.95)
    for name in ("level", "headroom", "rate"):
        draws = tree["posterior"][name].values.reshape(-1, replicates)[::10]
        ranks = (draws < truth[name]).sum(axis=0)
        counts = np.histogram(ranks, bins=5, range=(0, len(draws) + 1))[0]
        assert stats.chisquare(counts).pvalue > 0.001, (name, counts.tolist())


def test_calibrate_market_failed_fit_writes_nothing(tmp_path, priors_dir):
    from typer.testing import CliRunner

    from forecast.cli import app

    out = tmp_path / "calibrated.toml"
    arguments = ["calibrate", "market", "--priors", str(priors_dir), "--out", str(out)]
    arguments += ["--draws", "100", "--tune", "100", "--seed", "1"]
    result = CliRunner().invoke(app, arguments)
    assert result.exit_code == 1
    assert "ChatGPT adoption curve" in result.output
    assert not out.exists()


def test_shipped_calibrated_scenario_matches_data(priors_dir):
    from forecast.priors import load_scenario

    text = (priors_dir / "scenarios" / "calibrated.toml").read_text()
    digest = hashlib.sha256(DEFAULT_DATA.read_bytes()).hexdigest()
    assert f"SHA-256 {digest}" in text
    assert "0 divergences" in text
    scenario = load_scenario("calibrated", priors_dir)
    assert scenario.priors["market_ceiling"].quantile(0.95) < 300e6
