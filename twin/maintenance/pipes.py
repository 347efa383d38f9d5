"""Pipe break models: survival models with left truncation, fitted on the break history.

Each pipe is followed from the later of its laying and the start of the records (left
truncation: a pipe laid before records began is seen only from then on) until the end of
the records; each break ends an interval and opens the next (a counting-process layout of
recurrent breaks, so a pipe that breaks often contributes many short intervals). Age is the
time scale. Covariates: material, log diameter, log length, the mean pressure EPANET
gives the pipe and the pipe's earlier breaks in the records (``log(1 + breaks before)``, time
varying: the strongest single predictor of the next break in the field's experience).

Two models of ``lifelines`` are fitted and compared on held-out breaks:

* Cox proportional hazards (``CoxPHFitter`` with ``entry_col``): a free baseline hazard in
  age, the covariates multiply it;
* Weibull accelerated failure time (``WeibullAFTFitter`` with ``entry_col``): a parametric
  age effect, the covariates stretch time.

The expected breaks of a pipe in the next year are the increase of its cumulative hazard from
its age now to a year on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

MODELS = ("cox", "weibull_aft")


class BreakModelError(RuntimeError):
    """No break model could be fitted on the history."""
#: Ridge penalty of both fits (small; keeps rare materials from diverging) [-].
PENALIZER = 0.01
#: Ages are given to the parametric fit in centuries (its optimiser diverged on years) [a].
AGE_SCALE_YEARS = 100.0


def pipe_covariates(pipes: pd.DataFrame, pressure_m: pd.Series) -> pd.DataFrame:
    """Covariates per pipe asset: material dummies, ``log_diameter``, ``log_length_km``,
    ``pressure_m``.

    Parameters
    ----------
    pipes : DataFrame
        Register rows of the pipes (``asset_id``, ``element``, ``type_material``, ``rating``
        = diameter [mm], ``length_m``).
    pressure_m : Series
        Mean pressure per pipe element [m].
    """
    x = pd.DataFrame(index=pipes.asset_id.to_numpy())
    mats = sorted(pipes.type_material.unique())
    for m in mats[1:]:  # the first material is the reference
        x[f"mat_{m.replace(' ', '_')}"] = (pipes.type_material == m).to_numpy(dtype=float)
    x["log_diameter"] = np.log(np.maximum(pipes.rating.to_numpy(dtype=float), 25.0) / 300.0)
    x["log_length_km"] = np.log(np.maximum(pipes.length_m.to_numpy(dtype=float), 5.0) / 1000.0)
    x["pressure_m"] = pressure_m.reindex(pipes.element).to_numpy(dtype=float) - 45.0
    return x.fillna(0.0)


def survival_intervals(pipes: pd.DataFrame, breaks: pd.DataFrame, first_year: int,
                       end_year: float) -> pd.DataFrame:
    """Counting-process rows ``asset_id``, ``start``, ``stop`` [age, a], ``event`` and
    ``log_prior_breaks`` (breaks of the pipe earlier in the records) per pipe.

    ``end_year`` is the (fractional) calendar year the records end.
    """
    rows = []
    t_break = breaks.assign(year=breaks.time.dt.year + (breaks.time.dt.dayofyear - 0.5) / 366)
    by_pipe = t_break.groupby("asset_id").year.apply(sorted).to_dict()
    for a in pipes.itertuples():
        begin = max(float(first_year), float(a.install_year))
        if end_year <= begin:
            continue
        t, k = begin, 0
        for y in by_pipe.get(a.asset_id, []):
            if begin <= y < end_year:
                rows.append((a.asset_id, t - a.install_year, max(y - a.install_year,
                                                                  t - a.install_year + 1e-3), 1,
                             np.log1p(k)))
                t, k = y, k + 1
        rows.append((a.asset_id, t - a.install_year, end_year - a.install_year, 0, np.log1p(k)))
    df = pd.DataFrame(rows, columns=["asset_id", "start", "stop", "event", "log_prior_breaks"])
    df["stop"] = np.maximum(df.stop, df.start + 1e-3)
    return df


def prior_breaks(breaks: pd.DataFrame, asset_ids: pd.Index, before_year: int) -> pd.Series:
    """``log(1 + breaks recorded before 1 January of before_year)`` per asset_id."""
    n = breaks[breaks.time.dt.year < before_year].asset_id.value_counts()
    return np.log1p(n.reindex(asset_ids, fill_value=0)).rename("log_prior_breaks")


@dataclass
class BreakModel:
    """A fitted break model: ``kind`` (``cox`` / ``weibull_aft``), its lifelines fitter, its
    covariates and, for Cox, the Breslow baseline (age, cumulative hazard) with late entry."""

    kind: str
    fitter: object
    columns: list
    baseline: tuple | None = None
    #: ages are divided by this in the parametric fit (the optimiser converges on ~1) [a]
    age_scale: float = 1.0

    def expected_breaks(self, x: pd.DataFrame, age_years: np.ndarray,
                        horizon_years: float = 1.0) -> np.ndarray:
        """Expected breaks of each pipe between its age now and ``horizon_years`` on [-]."""
        a0 = np.maximum(np.asarray(age_years, dtype=float), 0.0)
        a1 = a0 + horizon_years
        x = x[self.columns]
        if self.kind == "cox":
            t, h = self.baseline
            slope = (h[-1] - np.interp(t[-1] - 10, t, h)) / 10 if len(t) > 1 else 0.0

            def cum(age):
                inside = np.interp(age, t, h)
                return np.where(age > t[-1], h[-1] + slope * (age - t[-1]), inside)

            rel = self.fitter.predict_partial_hazard(x).to_numpy(dtype=float)
            return np.maximum(cum(a1) - cum(a0), 0.0) * rel
        p = self.fitter.params_
        lam = np.exp(p["lambda_"]["Intercept"]
                     + x.to_numpy(dtype=float) @ p["lambda_"][self.columns].to_numpy())
        rho = np.exp(p["rho_"]["Intercept"])
        a0, a1 = a0 / self.age_scale, a1 / self.age_scale
        return (a1 / lam) ** rho - (a0 / lam) ** rho


def fit_break_model(kind: str, intervals: pd.DataFrame, x: pd.DataFrame) -> BreakModel:
    """Fit one model on counting-process rows joined with covariates."""
    from lifelines import CoxPHFitter, WeibullAFTFitter

    df = intervals.join(x.drop(columns="log_prior_breaks", errors="ignore"), on="asset_id"
                        ).drop(columns="asset_id")
    cols = [c for c in x.columns if df[c].std() > 0]
    df = df[["start", "stop", "event", *cols]]
    scale = 1.0
    if kind == "cox":
        f = CoxPHFitter(penalizer=PENALIZER)
    elif kind == "weibull_aft":
        f = WeibullAFTFitter(penalizer=PENALIZER)
        scale = AGE_SCALE_YEARS
        df = df.assign(start=df.start / scale, stop=df.stop / scale)
    else:
        raise ValueError(f"unknown break model {kind!r}; one of {MODELS}")
    f.fit(df, duration_col="stop", event_col="event", entry_col="start")
    baseline = _breslow_with_entry(df, f.predict_partial_hazard(df[cols]).to_numpy()) \
        if kind == "cox" else None
    return BreakModel(kind, f, cols, baseline, scale)


def _breslow_with_entry(df: pd.DataFrame, rel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Breslow cumulative baseline hazard whose risk sets honour late entry: at an event age
    t, the intervals with start < t <= stop (lifelines' own baseline ignores ``entry_col``
    and so understates the hazard of left-truncated data)."""
    start, stop = df.start.to_numpy(float), df.stop.to_numpy(float)
    ev = df.event.to_numpy(bool)
    times = np.unique(stop[ev])
    s_sorted, s_rel = np.sort(start), rel[np.argsort(start)]
    e_order = np.argsort(stop)
    e_sorted, e_rel = stop[e_order], rel[e_order]
    cum_s = np.concatenate([[0.0], np.cumsum(s_rel)])
    cum_e = np.concatenate([[0.0], np.cumsum(e_rel)])
    entered = cum_s[np.searchsorted(s_sorted, times, side="left")]  # start < t
    left = cum_e[np.searchsorted(e_sorted, times, side="left")]  # stop < t
    risk = np.maximum(entered - left, 1e-12)
    deaths = pd.Series(stop[ev]).value_counts().reindex(times).to_numpy(float)
    return times, np.cumsum(deaths / risk)


def concordance(predicted_rate: np.ndarray, observed_breaks: np.ndarray) -> float:
    """Harrell's C of predicted rates against breaks in a window: of pairs with different
    break counts, the share ranked the right way (ties in prediction count half)."""
    from lifelines.utils import concordance_index

    obs = np.asarray(observed_breaks, dtype=float)
    # time to first break within the window (1 = none) and whether one happened
    return float(concordance_index(np.where(obs > 0, 1.0 / (1.0 + obs), 1.0),
                                   -np.asarray(predicted_rate, dtype=float), obs > 0))


@dataclass
class BreakModelChoice:
    """The fitted models, their held-out scores and the one chosen."""

    chosen: BreakModel
    scores: pd.DataFrame  # per model: held-out C-index and Poisson log-likelihood
    reason: str


def choose_break_model(pipes: pd.DataFrame, breaks: pd.DataFrame, x: pd.DataFrame,
                       first_year: int, last_year: int, holdout_years: int = 3
                       ) -> BreakModelChoice:
    """Fit both models on the history up to ``last_year - holdout_years``, score them on the
    breaks of the held-out years, and refit the better one on the whole history.

    The better model has the higher held-out Poisson log-likelihood of the break counts (it
    scores both ranking and level); the C-index is reported beside it.
    """
    split = last_year - holdout_years + 1
    train = breaks[breaks.time.dt.year < split]
    test = breaks[breaks.time.dt.year >= split]
    rows = []
    age_split = split - pipes.install_year.to_numpy(dtype=float)
    obs = test.asset_id.value_counts().reindex(pipes.asset_id, fill_value=0).to_numpy()
    live = age_split > 0
    for kind in MODELS:
        try:
            m = fit_break_model(kind, survival_intervals(pipes, train, first_year, split), x)
            mu = np.where(live, m.expected_breaks(x, np.maximum(age_split, 0), holdout_years),
                          0.0)
            ll = float(np.sum(obs * np.log(np.maximum(mu, 1e-12)) - mu))
            rows.append((kind, concordance(mu[live], obs[live]), ll, mu.sum(), obs.sum(), ""))
        except Exception as exc:  # a fit that fails is reported, never hidden
            rows.append((kind, np.nan, -np.inf, np.nan, obs.sum(), str(exc)))
    scores = pd.DataFrame(rows, columns=["model", "heldout_c_index", "heldout_loglik",
                                         "expected_breaks", "observed_breaks", "error"]
                          ).set_index("model")
    order = list(scores.heldout_loglik.sort_values(ascending=False, kind="stable").index)
    best, other = order[0], order[1]
    reason = (f"{best} wins on the {holdout_years} held-out years ({split}-{last_year}): "
              f"log-likelihood {scores.heldout_loglik[best]:.1f} vs "
              f"{scores.heldout_loglik[other]:.1f}, C-index "
              f"{scores.heldout_c_index[best]:.3f} vs {scores.heldout_c_index[other]:.3f}; "
              f"expected {scores.expected_breaks[best]:.1f} breaks, observed "
              f"{int(scores.observed_breaks[best])}")
    whole = survival_intervals(pipes, breaks, first_year, last_year + 1.0)
    for kind in order:  # the winner refitted on the whole history; the other if it fails
        try:
            model = fit_break_model(kind, whole, x)
        except Exception as exc:
            reason += f"; {kind} did not converge on the whole history ({type(exc).__name__})"
            continue
        if kind != best:
            reason += f", {kind} used"
        return BreakModelChoice(model, scores, reason)
    raise BreakModelError(f"neither break model converged on the pipe history: {reason}")
