"""Leak detection and location for a period of measurements: the twin's ``leaks`` workflow.

:func:`detect_and_locate` is the one orchestration over peers that do no I/O:

1. :mod:`~twin.water.leak_quality`: gaps, stuck loggers, tank tags in a wrong unit (flagged,
   the run goes on);
2. :mod:`~twin.water.leak_expectation`: what the twin expects per DMA and per logger at the
   SCADA's own step;
3. :mod:`~twin.water.leak_residuals`: measured minus expected, hourly, less a baseline
   learned on the stated leak-free period (robustly on the whole period when none is long
   enough);
4. :mod:`~twin.water.leak_detection`: detector settings calibrated from the baseline's
   noise, two-sided CUSUM per DMA that restarts after each alarm, and a second, more
   sensitive one whose new leaks the DMA's loggers must confirm (:func:`confirmed_rises`);
5. :mod:`~twin.water.leak_location`: candidates in the alarming DMA ranked by the loggers'
   pressure change and the split of the leak's flow among the DMA's boundary meters
   (:func:`flow_signature`) against sensitivities computed once per network, refined on
   pipes.

:func:`find_leaks` reads the period from the measurement store and calls it.

Choices, by measurement (``benchmarks/bench_leaks.py``, KL with 3 DMAs, pipes and demands
off by up to 10 %):

* detection on each DMA's *consumption* residual (a mass balance of SCADA flows and tank
  levels against metered demands: no pipe parameter in it) rather than on pressures: the
  logger pressure residuals carried 0.30 m (hourly, median over loggers) of model error that
  follows the flows, against 0.02 m once what all loggers share is taken out, which is
  what location then uses;
* location compares the loggers' departures from their median change with the sensitivities
  treated the same way (common mode out): on a 28-day case this moved the best candidate from
  1,390 m to 82 m of a 6 m³/h leak and from 5,190 m to 1,050 m of an 18 m³/h one;
* the consumption CUSUM rather than LILA's pressure models on a reference logger
  (:func:`twin.water.leak_residuals.reference_logger_residuals`, run beside it in the
  benchmark with the same CUSUM and false-alarm target): on KL, 3 seeds of 70 days, 24
  leaks, an alarm in the leak's DMA inside its window for 21/24 (3-10 m³/h 6/9, above 10
  15/15) against LILA's 23/24, but 0.10 alarms per DMA-month with no open leak in the DMA
  against LILA's 1.55, and a median delay of abrupt leaks of 4.0 h against 13.8 h (the
  minimum-night-flow step of practice: 12/24, 0.00, 13.5 h);
* the DMAs' consumption CUSUMs run together at a 15-min step, each on its residual less
  what the others' share (:func:`twin.water.leak_detection.joint_cusum`; the demand
  model's error is common to all DMAs: hourly residuals correlated 0.76-0.79 on KL), rather
  than each alone hourly: same bench (3 seeds of 70 days, 197 loggers), found 8 to 10/24
  (3-10 m³/h 1/9 to 2/9), false alarms 1.01 to 1.21 per DMA-month, median delay of abrupt
  leaks found 7.5 to 0.8 h, location error 397 to 375 m; detection alone 21 to 22/24,
  alarms with no open leak in the DMA 0.14 to 0.24 per DMA-month, abrupt delay 5.0 to 2.0 h.
  Where the noise the CUSUM sums is measurably lower with each DMA alone hourly, the twin
  detects that way (:func:`_noise_alone`: the same measure for both, over 6-h blocks);
* a DMA's tanks' level noise filtered out of its water balance before detection
  (:func:`twin.water.leak_residuals.mass_balance_filter`, a Kalman filter of the volume
  the DMA took in less what it was expected to use, the level read once rather than
  differenced, the noises learned on the leak-free period): on CTOWN (tanks and pumps, 1 cm
  of level noise, 37 L/s a 5-min step in its largest DMA of which 9 L/s is not the
  levels') the filtered 15-min residual spread 4-5 L/s where the raw one spread 13, and the
  joint detector, chosen on it, detected 21/24 leaks in their DMA with an abrupt delay of
  3.9 h against 23/24 and 6.5 h each alone hourly on the raw residual (3 seeds of 70
  days); the noise left over hours is the demand's (2 L/s per √h in the largest DMA, raw
  or filtered over 6-h blocks), which bounds the bursts' delay;
* what is missed is location, not detection, and location needs loggers at a density per
  length of main: with L-Town's per junction (40 loggers on KL's 252 km, median distance
  from a junction to its nearest logger about 400 m) an earlier session placed 2 of 21
  detections within 300 m; at L-Town's density per length (one logger per 1,291 m of main,
  197 on KL, 162 m) the positions are found by: junctions of the alarming DMA and the far
  ends of its meters, narrowed to 3 logger spacings around the DMA's logger that fell most
  (:data:`DROP_SPACINGS`), ranked by the fitted misfit with the standard leak, the best 10
  and the pipes between them ranked again for a leak of the fitted size
  (:data:`SIZE_REFINE`). On 8 cases of 42 days (64 leaks, alarms located again) that took
  found leaks from 16 to 24 (median error 592 to 306 m). Restricting the loggers to the
  alarming DMA, explaining the other DMAs' consumption changes by their mean sensitivity,
  the boundary candidates and points along pipes ranked with the standard leak did not help
  (within the seeds' spread, or worse);
* location on the leak's signature (:func:`twin.water.leak_location.leak_signature`: each
  logger's day-mean pressure residual regressed on the DMA's day-mean consumption
  residual, from before the change to :data:`LOCATE_WINDOW_H` after it, times the leak
  flow) rather than on the step of the medians before and after the change, and one
  location per *episode*: a rise whose DMA's residual kept rising since the DMA's rise
  before it, with no fall between (:func:`continues`), is that leak growing and takes its
  position; the episode is located once, over its whole course, until
  :data:`LOCATE_WINDOW_H` after its last growth or the next change of any series
  (:func:`locate_until`), its day means half a day clear of a change
  :data:`CLEAR_STEP_RATIO` times its own or more (:func:`clear_window`). The position is
  then known later than the alarm: each alarm carries ``located_utc``. On the benchmark's
  KL cases by length, seeds 0-7 of 70 days (64 leaks, scored as the benchmark does): found
  23 with the step of medians alarm by alarm, 29 with the signature alone, 31 with
  episodes too; false alarms 1.25 to 0.83 per DMA-month, median location error 508 to
  296 m. The benchmark's run (3 seeds) at 4bd25ff against fe8b8de: KL found 8 to 11, 1.01
  to 0.63, 397 to 273 m; CTOWN found 6 to 7, 0.82 to 0.63, but 449 to 549 m. Regressing
  on every DMA's flow at once (to fit their leaks apart) or smoothing the flow only did
  not help (26-27 of 64); a stricter rule for growth (the rise also two standard errors
  of the slope) merged fewer and found 29-30;
* each leak missed at 23fdfe0 (KL, 3 seeds of 70 days: 12/24, 22/24 detected in their
  DMA) looked at alarm by alarm: 3 had an alarm of their own located within 300 m that the
  growth rule had merged into a rising leak of the same DMA (growth is now by position,
  :func:`_growth`); a signature over every logger let other DMAs' growing leaks into each
  logger's regression (located now on the DMA's own loggers, :func:`location_loggers`);
  the signature's size was 0.07-83 times what the position and the consumption step
  predict, so positions are ranked by the angle to their sensitivity
  (:data:`RANK_METRIC`); a fall ends a leak only if it could be its repair
  (:data:`REPAIR_SHARE`), and a repeat alarm listing the earlier leak's place among its
  positions is that leak again. Together 12 to 17/24 (3-10 m³/h 2 to 5/9, 10-50 5 to 6/9,
  >50 5 to 6/6), false alarms 0.82 to 0.77 per DMA-month, median location error 268 to
  174 m; on 5 seeds not used to choose (3-7, 40 leaks) 14 to 17/40, 1.16 to 1.01, 524 to
  145 m; CTOWN 8 to 9/24, 0.48 to 0.58, 389 to 506 m.
  Still missed: leaks under another of their DMA's leaks (a 22 m³/h one on a 141 m³/h one,
  a 13 m³/h one while a 134 m³/h one grows), small ones whose signature the model's error
  outweighs, and those the detector misses. The step of medians before and after the
  change on the DMA's loggers (11/24), regressing on every DMA's flow at once (9-10/24),
  cutting the window only at the DMA's own changes (16/24), and a growth radius of twice
  300 m (14/24) did not help;
* the loggers weighed by the covariance of their signature's noise on the leak-free days
  (:func:`twin.water.leak_location.signature_noise_covariance`, the day means' correlations
  shrunk toward none as far as the days support), not each by its own noise: on CTOWN a
  pump or tank the model runs otherwise than the network leaves patterns over the loggers
  of 5-15 σ for hours, shaped like a leak's near the DMA's inlet, while a 28 m³/h leak
  moves them 0.2 σ an hour. ``benchmarks/bench_leaks.py`` cases, 3 seeds of 70 days:
  CTOWN found 9 to 13/24, false alarms 0.53 to 0.43 per DMA-month; KL 17/24 both (0.77,
  median location error 174 to 83 m). On seeds not used to choose (the same scoring,
  pooled): CTOWN 3, 5, 6, 7 (32 leaks) found 16 to 15, false alarms 0.83 to 0.72, error
  210 to 304 m; KL 3-5 found 10 to 11, 0.77 to 0.82, 97 to 46 m: a gain within the seeds'
  spread on found, and what CTOWN still misses is mostly under its noise (whitened, the
  whole leak's expected change is 0.3-2 noise units for its small leaks in DMA-1).
  Sensitivities were not the trouble: at each leak's node in the network that made the
  data (pipes off by up to 10 %) their angle to the twin's at the leak's pipe had a cosine
  of 0.95-1.00 for 21 of 24 leaks, while the signatures' cosine to either was -0.8 to 0.9;
* the narrowing is a prior drawn from one logger, and checked: where the signature leaves
  the junctions near the logger that fell most less than 5 % of the posterior over all the
  DMA's candidates (:data:`NARROW_MIN_POSTERIOR`,
  :func:`twin.water.leak_location.narrowing_kept`), the whole DMA is ranked. Of 26 alarms
  placed over 300 m from their leak (10 cases, 9 of networks the twin was not tuned on),
  17 had the leak outside the narrowed junctions, the logger that fell most 500 m to 8 km from it;
  ranking with the sensitivities of the network that made the data placed them no better.
  ``benchmarks/bench_leaks.py``, eight sets of 3 seeds: 106 to 112 of 192 leaks found, false
  alarms lower or equal in each set, two small leaks lost (KL 0-2 and CTOWN 0-2 3-10 m³/h 4
  to 3/9);
* a second, more sensitive consumption CUSUM (designed for 2 false alarms per DMA-month,
  :data:`CONFIRM_FALSE_ALARMS`) whose new leaks are raised only where the DMA's loggers
  confirm them at the position they were located at (:func:`confirmed_rises`: a 48-h
  change of the loggers' departures from their median, along that position's sensitivity,
  above the 95th percentile of the leak-free hours' best fit anywhere,
  :func:`pressure_evidence`). Either test alone is too loose: at the true starts a
  pressure test saw 41 of 72 small leaks but crossed 3.6-6.6 times per DMA-month, and the
  sensitive CUSUM's alarms are mostly noise. ``benchmarks/bench_leaks.py``, 36 cases of
  six networks: found 198 to 204 of 288 (3-10 m³/h 50 to 53 of 108), none lost, false
  alarms 0.60 to 0.71 per DMA-month, median abrupt delay 1.5 to 2.0 h (a confirmed leak is
  raised 48 h after its start at the earliest). Confirmed by the best fit of any position
  rather than the located one: the same leaks with 0.88 false alarms per DMA-month on 24 of
  the cases (0.76 at the located position);
* the signature regressed on a step at the leak's start, not on the DMA's consumption
  residual hour by hour (:data:`SIGNATURE_COURSE`, :func:`measured_signature`), over 96 h
  either side of the change (:data:`LOCATE_WINDOW_H`; before, 48 h). The residual carries
  the DMA's demand noise, day means of 1-6 m³/h (the size of a small leak) with a
  pressure shape of its own, and the slope on it took that shape in; a step at the start
  is blind to what does not change there, and more hours then lower the noise instead of
  adding it.
  ``benchmarks/bench_leaks.py``, 36 cases of six networks (seeds 0-5, the methods chosen
  on them): found 205 to 207 of 288 (3-10 m³/h 53 to 58 of 108), false alarms 0.74 to
  0.75 per DMA-month; 18 cases of seeds 6-8: 86 to 94 of 144 (17 to 18 small, above
  10 m³/h 69 to 76 of 90), 0.78 to 0.73;
* the minimum-night-flow step of practice runs beside it in the benchmark as the anchor;
* speed and memory: the expectation's EPANET run is read only at the loggers, tanks,
  boundary links and pumps as it steps, and the store is read a month and a group of
  series at a time, the AMR reads reduced as they come (a year of 5-min SCADA on KL,
  ``benchmarks/bench_leaks.py --year-only``: 45.5 s with the sensitivities and 0.94 GB at
  40 loggers, 108 s and 2.3 GB at 196 with the sized re-ranking; reading every node and link
  out of EPANET, 12 GB).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import wntr
import xarray as xr

from twin.ingest.store import READ_CHUNK_ROWS
from twin.ingest.tag_map import series_elements
from twin.water import leak_detection as det
from twin.water import leak_expectation as exp
from twin.water import leak_location as loc
from twin.water import leak_quality as qa
from twin.water import leak_residuals as rs
from twin.water.leak_expectation import ExpectationError, Observations

#: SCADA quantities the leak analysis reads: boundary flows [L/s], logger pressures [m], tank
#: levels [m], pump power [kW], pump status [-] (store units; see :mod:`twin.ingest.tag_map`).
WATER_QUANTITIES = ("flow", "pressure", "level", "pump_power", "pump_status")
#: A m³/h in L/s.
M3H_L_S = 1 / 3.6
#: The step of the residuals detection runs on.
HOUR = pd.Timedelta(hours=1)
#: Hours of pressure residual on each side of a change that locate it [h]. Chosen on
#: ``benchmarks/bench_leaks.py`` cases (KL, 16 leaks, located from their true start): 48 h
#: put 6 of 16 within 300 m (median 606 m), 24 h 3 of 16 (775 m), 72 h 5 of 16 (693 m).
#: With the regressed signature and episodes (8 cases of 70 days, 64 leaks, found): 24 h 30,
#: 48 h 31, 72 h 32, 96 h 30: kept. With the signature on a step (:data:`SIGNATURE_COURSE`),
#: the 54 cases of ``benchmarks/bench_leaks.py`` (seeds 0-5 / 6-8, found of 288 / 144):
#: 48 h 204 / 92, 72 h 204 / 94, 96 h 207 / 94, 144 h 207 / 94; 96 h after and 48 h before
#: 205 / 93 (3-10 m³/h 54 / 18 against 58 / 18). Most windows end sooner, at the next change
#: of any series: the position's median delay after the alarm went from 31 to 33 h (90th
#: percentile 78 to 106 h).
LOCATE_WINDOW_H = 96.0
#: Best junctions ranked again, with the points along the pipes between them, for a leak of
#: the fitted size. Chosen on ``benchmarks/bench_leaks.py`` cases (KL, loggers by length of
#: main, 8 seeds of 42 days, 64 leaks, alarms located again): junctions and pipe points
#: ranked with the standard leak found 16 (median error 592 m), junctions alone 18 (504 m),
#: the best 10 junctions and their pipes sized 19 (426 m); the best 25: as 10.
SIZE_REFINE = 10
#: Step of the change detection [min]. Chosen on ``benchmarks/bench_leaks.py``: see
#: :mod:`twin.water.leak_detection`.
DETECT_STEP_MIN = 15.0
#: Candidates within this many logger spacings of the logger that fell most. Chosen on the
#: same 8 cases with the sized re-ranking: off 19 of 64 found (median error 426 m), 2
#: spacings 23 (321 m), 3 spacings 24 (306 m), 4 spacings 20 (350 m); the logger alone
#: (LILA's placement) 22 (304 m).
DROP_SPACINGS = 3.0
#: Least posterior probability the loggers must leave the junctions near the logger that
#: fell most for location to keep to them (:func:`twin.water.leak_location.narrowing_kept`):
#: the narrowing is a prior from one logger, dropped when the signature rejects it at the
#: 5 % level. On ``benchmarks/bench_leaks.py`` (eight sets of 3 seeds) 112 of 192 leaks
#: found against 106 without it; offline, 1 % and 20 % placed fewer leaks within 300 m than
#: 5 % (its docstring).
NARROW_MIN_POSTERIOR = 0.05
#: Radius of the search around a reported position [m]; 0, the best fit. On
#: ``benchmarks/bench_leaks.py`` (the eight sets of 3 seeds, its docstring), with growth
#: judged on the best fits: 150 m found 123 of 192 against the best fit's 116, 300 m 122;
#: every alarm the same, raised at the same time.
SEARCH_RADIUS_M = 150.0
#: How positions are ranked against a leak's signature. On ``benchmarks/bench_leaks.py``
#: (KL, 3 seeds of 70 days, 24 leaks) the signature's size at the loggers was 0.07 to 83
#: times the size the position's sensitivity and the DMA's consumption step predict (model
#: error, leaks on top of others, the day means), so a prior on the size steers the misfit
#: to positions by their distance from the loggers; with the angle alone (and the DMA's own
#: loggers, growth by position) found 16 to 17/24, on 5 further seeds 17 to 17/40.
RANK_METRIC = "correlation"
#: Share of the smallest leak (``min_leak_m3h``) an alarm's rise must reach to be raised
#: [-]; a smaller rise is the detector's noise, kept in ``changes``. The rise is measured
#: over the hours after the alarm, with their noise: the alarms of abrupt 3-10 m³/h leaks
#: found rose by 0.79 to 1.59 times the leak's flow (10th to 90th percentile), so the
#: whole smallest leak as the bar turns away many leaks near it. On
#: ``benchmarks/bench_leaks.py`` (the eight sets of 3 seeds of 70 days, 192 leaks, 72 of
#: them 3-10 m³/h): 1.0 found 130 (31 small) with 0.54 false alarms per DMA-month; 0.7
#: 133 (34) with 0.63; 0.5 134 (35) with 0.73; no leak found at 1.0 was lost. One run of
#: 36 cases (six networks, 6 seeds): 188 to 198 of 288 (3-10 m³/h 41 to 50 of 108), none
#: lost, false alarms 0.51 to 0.60 per DMA-month.
RISE_SHARE = 0.7
#: False alarms per DMA per month of the second, more sensitive consumption CUSUM whose
#: rises the loggers' pressure must confirm (:func:`confirmed_rises`) [1/month]. A small
#: leak's rise often stays under the first detector's threshold (0.33 false alarms a
#: month); with a threshold for 2 a month the CUSUM sees more of them and more noise, and a
#: pressure test alone crosses 3.6-6.6 times per DMA-month (other DMAs' leaks move the
#: loggers unevenly): each test alone is too loose, the two together are not.
CONFIRM_FALSE_ALARMS = 2.0
#: Quantile of the leak-free hours' pressure evidence a sensitive rise's must exceed [-].
CONFIRM_QUANTILE = 0.95
#: Hours on each side of a change that the pressure evidence compares (two days: the
#: daily cycle cancels); a confirmed rise is raised once they are measured [h].
CONFIRM_WINDOW_H = 48
#: Fewest loggers in a DMA to locate on them alone: the common mode is their median, and
#: with fewer than 3 it is the signature itself [-].
MIN_AREA_LOGGERS = 3


#: What a leak's signature is regressed on (:attr:`LeakSettings.signature_course`): a step
#: at its start. Regressed on the DMA's consumption residual, the day-to-day noise of the
#: DMA's demand (the size of a small leak, with a pressure shape of its own) entered the
#: signature; a step is blind to what does not change at the start. Chosen on
#: ``benchmarks/bench_leaks.py``'s 54 cases: see its docstring.
SIGNATURE_COURSE = "step"
SIGNATURE_COURSES = ("step", "flow")
#: A leak's signature keeps its hours clear of another change whose step is at least this
#: many times the leak's own (:func:`clear_window`) [-]. The signature's day means reach half
#: a day past each hour, so the last 12 h before a later change carry 66/24 = 2.75 hours'
#: worth of it, spread over the window's hours after the start (median 35 h for rises under
#: 10 m³/h): a change twice the leak's biases its signature by a fifth or so, one ten times
#: it (a burst after a small leak) by about its own size. Stated from that count, then
#: measured by scripts outside the repo (108 cases of ``benchmarks/bench_leaks.py``, seeds
#: 0-17, six networks; found of 288 for seeds 0-5 / 6-11 / 12-17): cleared of every change
#: (0) 208 / 182 / 200, of changes twice the leak's 217 / 187 / 198, three times 217 / 186 /
#: 198, of none (before) 211 / 183 / 200. Shorter windows cost what the clearing gains when
#: the other change is small. A change within an hour of the start is the same event seen in
#: another series (:func:`other_changes`, as :func:`locate_until` reads it), not cleared: 218
#: / 187 / 198 (one leak gained, none lost).
CLEAR_STEP_RATIO = 2.0


class LeakDetectionError(ValueError):
    """Measurements that do not allow leak detection; the message says what is missing."""


@dataclass(frozen=True)
class LeakSettings:
    """How a run detects and locates; every figure is a CLI option.

    Attributes
    ----------
    baseline_days : float
        Leak-free days at the start of the period the baseline is learned on [day].
    min_leak_m3h : float
        Smallest leak the detectors are tuned for [m³/h]; sets the CUSUM allowance.
    false_alarms_per_month : float
        Target false alarms per DMA per month of each detector [1/month]; sets h.
    rebase_h : int
        Hours after an alarm that set the new reference level [h].
    growth_radius_m : float
        A later rise located within this distance of an unrepaired leak of the same DMA is
        that leak growing, not a new one [m].
    top : int
        Candidate positions listed per alarm.
    locate_window_h : float
        Hours of pressure residual before a change and after the last growth of its
        episode that locate it (whole days, so the daily cycle cancels); the position is
        known that long after the last growth (or at the next change of any series,
        whichever is first), plus half a day for the day means [h].
    drop_spacings : float
        Candidates lie within this many logger spacings (median distance from a junction
        to its nearest logger) of the alarming DMA's logger whose pressure fell most [-];
        0 turns it off.
    narrow_min_posterior : float
        Keep to those candidates only while the signature leaves them at least this
        posterior probability over all the DMA's candidates
        (:func:`twin.water.leak_location.narrowing_kept`) [-]; 0 keeps them always.
    search_radius_m : float
        Report the position with the most posterior probability of the leak within this
        distance (:func:`twin.water.leak_location.probability_within`): where a crew
        sweeping that radius is most likely to find it, not the single best fit [m]; 0
        reports the best fit.
    rank_metric : str
        How positions are ranked against the signature: ``"correlation"`` (the angle between
        the signature and each position's sensitivity, blind to the leak's size) or
        ``"misfit"`` (least squares with the leak flow fitted, the DMA's consumption step as
        its prior) (:func:`twin.water.leak_location.rank_locations`).
    area_loggers : bool
        Locate on the loggers of the alarming DMA only (all loggers when it has fewer than
        :data:`MIN_AREA_LOGGERS`; :func:`location_loggers`).
    baseline_share : bool
        Take out of each position's change what the pressure baseline expects from the
        leak's own flow (:func:`twin.water.leak_location.baseline_share`).
    noise_covariance : bool
        Weigh the loggers by the covariance of their signature's noise on the leak-free
        days (:func:`twin.water.leak_location.signature_noise_covariance`), not each by
        its own noise alone.
    signature_course : str
        The leak flow's course each logger's pressure is regressed on to measure its
        signature (:func:`twin.water.leak_location.leak_signature`): ``"step"``, a step of
        the DMA's consumption change at the leak's start (:func:`twin.water.
        leak_location.step_course`), or ``"flow"``, the DMA's consumption residual hour by
        hour.
    clear_step_ratio : float
        A leak's signature is measured on hours whose day means hold no other change at
        least this many times its step (:func:`clear_window`) [-]; 0 clears them of every
        change, ``inf`` of none.
    size_refine : int
        Best positions ranked again with the pressure change of a leak of the fitted size
        (not the small standard leak's) [-]; 0 turns it off.
    boundary_flows : bool
        Locate on the alarming DMA's boundary meters as well as its loggers: how the leak's
        flow splits among the links the DMA draws through
        (:class:`twin.water.leak_location.FlowSignature`).
    flow_model_error : float
        Relative error allowed the model's flow sensitivities [-]
        (:data:`twin.water.leak_location.FLOW_MODEL_ERROR`).
    segment_h : float
        Hours simulated from one set of measured tank levels and pump statuses [h].
    pressure_at_measured_levels : bool
        Expect the loggers' pressures with every tank SCADA measures held at its measured
        level (:func:`twin.water.leak_expectation.pressure_at_measured_levels`, a second
        hydraulic run), not at the level the segment's own run reaches; the DMAs' water
        balance keeps the run whose tanks fill.
    pattern_origin : Timestamp, optional
        Local standard time of the model's time zero (weekly patterns); default the first
        midnight of the period.
    detect_step_min : float
        Step of the change detection [min]; the SCADA's own step when that is coarser.
    confirm_false_alarms_per_month : float
        Target false alarms per DMA per month of a second, more sensitive consumption
        detector whose new leaks are raised only where the DMA's loggers confirm them
        (:func:`confirmed_rises`) [1/month]; 0 turns it off.
    confirm_quantile : float
        Quantile of the leak-free hours' pressure evidence that confirms such a rise [-].
    burst_test : bool
        Raise the joint CUSUM's alarms sooner when a burst test of the last hours of the
        DMA's residual crossed first (:func:`twin.water.leak_detection.burst_crossings`;
        a crossing counts when it held two detection steps and the DMA's loggers fell with
        it, :func:`twin.water.leak_detection.burst_pressure_falls`); its crossings no alarm
        confirms are reported as alarms of their own
        (:func:`burst_alarms`). The CUSUM's changes and everything located from them are
        the same either way.
    """

    baseline_days: float = 7.0
    min_leak_m3h: float = 3.0
    false_alarms_per_month: float = 0.33
    rebase_h: int = det.REBASE_H
    growth_radius_m: float = 300.0
    top: int = 5
    locate_window_h: float = LOCATE_WINDOW_H
    size_refine: int = SIZE_REFINE
    noise_covariance: bool = True
    signature_course: str = SIGNATURE_COURSE
    clear_step_ratio: float = CLEAR_STEP_RATIO
    drop_spacings: float = DROP_SPACINGS
    narrow_min_posterior: float = NARROW_MIN_POSTERIOR
    search_radius_m: float = SEARCH_RADIUS_M
    rank_metric: str = RANK_METRIC
    area_loggers: bool = True
    baseline_share: bool = True
    boundary_flows: bool = True
    flow_model_error: float = loc.FLOW_MODEL_ERROR
    segment_h: float = exp.SEGMENT_H
    pressure_at_measured_levels: bool = True
    pattern_origin: pd.Timestamp | None = None
    detect_step_min: float = DETECT_STEP_MIN
    burst_test: bool = True
    confirm_false_alarms_per_month: float = CONFIRM_FALSE_ALARMS
    confirm_quantile: float = CONFIRM_QUANTILE

    def as_dict(self) -> dict:
        return {k: (str(v) if isinstance(v, pd.Timestamp) else v)
                for k, v in asdict(self).items()}


@dataclass(frozen=True)
class LeakNetwork:
    """What the leak workflow needs of a city's water side.

    Attributes
    ----------
    wn : WaterNetworkModel
    dmas : Series
        Zone of each node.
    meters : DataFrame
        Boundary meters: ``meter_id``, ``link``, ``from_zone``, ``to_zone``.
    customers : DataFrame
        ``water_meter_id``, ``junction``, optional ``water_share``.
    node_xy : DataFrame
        ``x_m``, ``y_m`` per node [m].
    timezone : str
    """

    wn: wntr.network.WaterNetworkModel
    dmas: pd.Series
    meters: pd.DataFrame
    customers: pd.DataFrame
    node_xy: pd.DataFrame
    timezone: str

    @classmethod
    def from_city(cls, city) -> LeakNetwork:
        return cls(city.wn, city.dmas, city.dma_meters, city.customers, city.node_xy,
                   city.timezone)


@dataclass(frozen=True)
class LeakReport:
    """What :func:`detect_and_locate` found.

    Attributes
    ----------
    alarms : DataFrame
        One row per leak alarm: ``alarm`` (number), ``dma``, ``alarm_utc`` (when it was
        raised: the burst test's crossing when it came before the CUSUM's alarm,
        ``cusum_alarm_utc``; for a new leak of the sensitive detector, once the loggers'
        pressure confirmed it, :func:`confirmed_rises`), ``change_utc``, ``step_l_s``
        [L/s], ``leak_m3h`` [m³/h],
        ``kind`` (``new``, ``growth`` of an earlier alarm, ``growth_of``, or ``burst,
        unconfirmed``: a crossing of the burst test no CUSUM alarm confirmed, no position,
        :func:`burst_alarms`), the position reported (the centre of the most probable
        search circle, ``search_radius_m``; the best fit when 0) ``element``, ``x_m``,
        ``y_m`` [m], ``located_utc`` (when that position is known: the end of the hours it
        was measured on, after the alarm; a growth alarm carries its episode's position and
        time) and
        ``flag`` (why a figure is less reliable, empty when none).
    changes : DataFrame
        Every change the detectors saw, up and down (:func:`twin.water.leak_detection.
        detect_changes`).
    candidates : DataFrame
        Top positions per alarm, the reported first
        (:func:`twin.water.leak_location.rank_locations`).
    calibration : DataFrame
        Per detector series (DMA) and logger: noise, autocorrelation, k, h, target mean time
        between false alarms, and the baseline period; ``attrs["storage_filter"]``: per DMA
        whose tanks' level noise was filtered out, the noises the filter used and the
        residual's spread before and after
        (:func:`twin.water.leak_residuals.mass_balance_filter`);
        ``attrs["pressure_confirmation"]``: the sensitive detector's false-alarm target, the
        quantile, window and each DMA's threshold of the loggers' evidence
        (:func:`pressure_evidence`).
    residuals : Dataset
        Hourly corrected residuals: ``consumption_l_s (time × dma)``, ``pressure_m (time ×
        logger)``.
    flags : DataFrame
        ``sensor``, ``problem``, ``detail``: inputs flagged and what was done.
    notes : list of str
    """

    alarms: pd.DataFrame
    changes: pd.DataFrame
    candidates: pd.DataFrame
    calibration: pd.DataFrame
    residuals: xr.Dataset
    flags: pd.DataFrame
    notes: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------ reading the store

def read_observations(store, start, end, meters: pd.DataFrame | None = None,
                      wn: wntr.network.WaterNetworkModel | None = None,
                      customers: pd.DataFrame | None = None,
                      chunk_rows: int | None = READ_CHUNK_ROWS,
                      progress: Callable[[int, int], None] | None = None) -> Observations:
    """Read the period's water SCADA (at its own step) and AMR reads from a store.

    Which series is which element's flow, pressure, level or pump power comes from the tag
    map the SCADA was ingested with (``store.scada_tags()``), else from the sample
    historian's tags (:func:`twin.ingest.tag_map.series_elements`). A flow tag mapped to a
    boundary meter's link (``meters``: ``meter_id``, ``link``) counts as that meter's.

    Both are streamed (:meth:`~twin.ingest.store.MeasurementStore.iter_read`, a month and a
    group of series at a time): the SCADA is kept only as the time × series table of the
    water tags; with ``wn`` and ``customers`` the AMR reads are reduced group by group to
    what the demand ratio needs (:class:`~twin.water.leak_expectation.MeteredUse`, hours ×
    demand patterns), so a year of a utility's hourly reads is never held, else they are
    kept whole (hour × meter, ``use_m3``). ``chunk_rows``: stored rows read at once [-].
    ``progress(done, total)`` after each chunk (:func:`_store_chunks`).

    Raises
    ------
    LeakDetectionError
        When the store holds no water SCADA or no AMR reads in the period.
    """
    start, end = _utc(start), _utc(end)
    kinds = set(store.kinds())
    missing = {"scada", "water_read"} - kinds
    if missing:
        raise LeakDetectionError(
            f"the store at {store.root} holds no {', '.join(sorted(missing))} measurements; "
            "ingest the SCADA historian and AMR water registers first (`twin ingest`)")
    tag_rows = store.scada_tags()
    parts, whats, stamps = [], [], []
    hours = pd.date_range(start.ceil("h"), end, freq="h", inclusive="left")
    reduce = wn is not None and customers is not None
    base = exp.junction_base_m3s(wn) if reduce else None
    metered, use_parts = None, []
    for kind, chunk in _store_chunks(store, ("scada", "water_read"), start, end, chunk_rows,
                                     progress):
        if kind == "scada":
            what = series_elements(chunk.series_id.astype(str).unique(), tag_rows)
            what = what[what.quantity.isin(WATER_QUANTITIES)]
            chunk = chunk[chunk.series_id.astype(str).isin(set(what.tag))]
            if len(chunk):
                stamps.append(np.unique(chunk.time_utc.to_numpy(dtype="datetime64[ns]")))
                parts.append(_pivot(chunk))
                whats.append(what)
            continue
        wide = _pivot(chunk)
        if reduce:
            try:
                part = exp.metered_use(base, customers, wide, hours)
            except ExpectationError as exc:
                raise LeakDetectionError(str(exc)) from None
            metered = part if metered is None else metered + part
        else:
            use_parts.append(wide)
    if not parts or (metered is None and not use_parts):
        raise LeakDetectionError(
            f"no water SCADA or AMR reads between {start} and {end} in {store.root}; "
            "choose a period the store covers")
    what = pd.concat(whats, ignore_index=True).drop_duplicates("tag")
    if meters is not None and len(meters):
        by_link = dict(zip(meters.link.astype(str), meters.meter_id.astype(str), strict=True))
        flow = what.quantity == "flow"
        what.loc[flow, "element"] = what.loc[flow, "element"].map(
            lambda e: e if e in set(meters.meter_id.astype(str)) else by_link.get(e, e))
    stamps = pd.DatetimeIndex(np.unique(np.concatenate(stamps)))
    step = pd.Timedelta(seconds=exp.scada_step_s(stamps))
    times = pd.date_range(start.ceil(step), end, freq=step, inclusive="left")
    wide = _place(parts, times)
    return Observations(
        times=times,
        flow_l_s=_columns(wide, what, "flow"),
        pressure_m=_columns(wide, what, "pressure"),
        tank_level_m=_columns(wide, what, "level"),
        pump_power_kw=_columns(wide, what, "pump_power"),
        use_m3=(pd.DataFrame(index=hours) if reduce else _place(use_parts, hours)),
        pump_status=_columns(wide, what, "pump_status"),
        metered=metered,
    )


#: Columns of the stored readings the leak analysis reads.
READ_COLUMNS = ("series_id", "time_utc", "value", "quality_flag")


def _store_chunks(store, kinds, start: pd.Timestamp, end: pd.Timestamp, chunk_rows: int | None,
                  progress: Callable[[int, int], None] | None = None):
    """Yield ``(kind, chunk)`` of ``kinds`` in ``[start, end)`` (UTC), a UTC month at a time
    (:meth:`~twin.ingest.store.MeasurementStore.iter_read` within the month).

    ``progress(done, total)`` once each chunk has been used: ``done`` chunks read so far,
    ``total`` that plus the kind-months not begun (a month's chunks are known only as it is
    read: ``total`` grows by one for each further chunk of a month, falls by one for a month
    holding nothing, and equals ``done`` at the end).
    """
    months = pd.date_range(start.normalize().replace(day=1), end, freq="MS")
    bounds = [start, *[m for m in months if start < m < end], end]
    work = [(k, a, b) for k in kinds for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    done = last = 0
    for i, (kind, a, b) in enumerate(work):
        for chunk in store.iter_read(kind, READ_COLUMNS, start=a, end=b, chunk_rows=chunk_rows):
            yield kind, chunk
            done += 1
            last = done + len(work) - i - 1
            if progress is not None:
                progress(done, last)
    if progress is not None and done and last != done:
        progress(done, done)


def _utc(t) -> pd.Timestamp:
    t = pd.Timestamp(t)
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")


def _pivot(long: pd.DataFrame) -> pd.DataFrame:
    """Long measurements → time × series (failed reads left out)."""
    ok = long[long.quality_flag.astype(str) != "failed"]
    return ok.pivot_table(index="time_utc", columns=ok.series_id.astype(str), values="value",
                          aggfunc="mean", observed=True)


def _place(parts: list[pd.DataFrame], times: pd.DatetimeIndex) -> pd.DataFrame:
    """Time × series tables of disjoint series or times, placed on ``times`` in one table
    (times not in ``times`` left out, NaN where none had a value)."""
    cols = sorted(set().union(*(p.columns for p in parts))) if parts else []
    where = {c: i for i, c in enumerate(cols)}
    out = np.full((len(times), len(cols)), np.nan)
    for p in parts:
        rows = times.get_indexer(pd.DatetimeIndex(p.index))
        ok = rows >= 0
        out[np.ix_(rows[ok], [where[c] for c in p.columns])] = p.to_numpy(float)[ok]
    return pd.DataFrame(out, index=times, columns=cols)


def _columns(wide: pd.DataFrame, what: pd.DataFrame, quantity: str) -> pd.DataFrame:
    """The ``quantity`` series of ``wide``, one column per element (named by it)."""
    sel = what[(what.quantity == quantity) & what.tag.isin(set(wide.columns))]
    cols = dict(zip(sel.tag, sel.element, strict=True))
    return wide[list(cols)].rename(columns=cols).sort_index(axis=1)


# ----------------------------------------------------------------------- the orchestration

def find_leaks(city, store, start, end, settings: LeakSettings = LeakSettings(),
               client=None, cache_dir: str | Path | None = loc.CACHE_DIR,
               progress: Callable[[str, int, int], None] | None = None) -> LeakReport:
    """Detect and locate leaks in ``[start, end)`` (UTC) from the store's measurements.

    See :func:`detect_and_locate`; ``city`` gives the network, DMAs, meters, customers and
    time zone.
    """
    tick = progress or (lambda *_: None)
    tick("read", 0, 1)
    obs = read_observations(store, start, end, city.dma_meters, city.wn, city.customers,
                            progress=lambda done, total: tick("read", done, total))
    return detect_and_locate(LeakNetwork.from_city(city), obs, settings, client=client,
                             cache_dir=cache_dir, progress=progress)


def screened(obs: Observations, wn: wntr.network.WaterNetworkModel
             ) -> tuple[Observations, list[dict]]:
    """The observations with what cannot be trusted taken out, and a flag for each: stuck
    loggers and meters masked (:func:`twin.water.leak_quality.mask_stuck`), tank levels in
    the wrong unit converted or left out (:func:`twin.water.leak_quality.tank_level_units`),
    gaps reported, and pressure loggers at nodes the network does not have left out."""
    flags: list[dict] = []
    pressure, f = qa.mask_stuck(obs.pressure_m)
    flags += f
    flow, f = qa.mask_stuck(obs.flow_l_s, zero_ok=True)
    flags += f
    levels, f = qa.tank_level_units(obs.tank_level_m, wn)
    flags += f
    flags += qa.gap_flags(pressure, "pressure logger") + qa.gap_flags(flow, "flow meter")
    loggers = [j for j in pressure.columns if j in set(wn.node_name_list)]
    unknown = sorted(set(pressure.columns) - set(loggers))
    if unknown:
        flags.append(qa.flag(",".join(unknown[:5]), "unknown",
                             f"{len(unknown)} pressure logger(s) at nodes not in the network "
                             "left out"))
    return replace(obs, pressure_m=pressure[loggers], flow_l_s=flow, tank_level_m=levels), flags


def detect_and_locate(
    net: LeakNetwork,
    obs: Observations,
    settings: LeakSettings = LeakSettings(),
    sens: xr.Dataset | None = None,
    client=None,
    cache_dir: str | Path | None = loc.CACHE_DIR,
    progress: Callable[[str, int, int], None] | None = None,
) -> LeakReport:
    """Detect and locate leaks in a period of observations.

    Parameters
    ----------
    net : LeakNetwork
    obs : Observations
        SCADA at its own step and hourly AMR reads.
    settings : LeakSettings
    sens : Dataset, optional
        A sensitivity matrix already computed for this network and these loggers.
    client : distributed.Client, optional
        Spread the sensitivity runs over its workers (only when not cached).
    progress : callable, optional
        ``progress(step, done, total)`` with steps ``simulate``, ``sensitivity``,
        ``locate``.

    Raises
    ------
    LeakDetectionError
        When the period is too short for any detection (under 2 days), or the measurements
        do not fit the network.
    """
    tick = progress or (lambda *_: None)
    s = settings
    wn, tz = net.wn, net.timezone
    notes: list[str] = []
    n_hours = (obs.times[-1] - obs.times[0]) / pd.Timedelta(hours=1) if len(obs.times) else 0
    known_course(s.signature_course)  # refused before any hydraulic run
    if n_hours < 47:
        raise LeakDetectionError(f"the period has {n_hours:.0f} hours of SCADA; give at least "
                                 "2 days")
    # 1. checks
    obs, flags = screened(obs, wn)
    loggers = list(obs.pressure_m.columns)
    # 2. expectation
    try:
        seconds = exp.pattern_seconds(obs.times, tz, s.pattern_origin)
        origin = (obs.times[0].tz_convert("UTC").tz_localize(None)
                  + pd.Timestamp("2001-01-15", tz=tz).utcoffset()).normalize() if (
            s.pattern_origin is None) else s.pattern_origin
        metered = obs.metered if obs.metered is not None else exp.metered_use(
            exp.junction_base_m3s(wn), net.customers, obs.use_m3)
        hours_s = exp.pattern_seconds(metered.hours, tz, origin)
        ratio = exp.demand_ratio(wn, metered, hours_s)
        unregistered = sorted(metered.unregistered)
    except ExpectationError as exc:
        raise LeakDetectionError(str(exc)) from None
    if unregistered:
        notes.append(f"{len(unregistered)} AMR meter(s) not in the customer register left out "
                     f"of the demand ratio (e.g. {', '.join(unregistered[:3])})")
    ratio_t = exp.ratio_at(ratio, obs.times)
    zones = rs.zones_of(net.meters)
    c_exp = exp.expected_consumption_l_s(wn, net.dmas, ratio_t, seconds, obs.times).reindex(
        columns=zones, fill_value=0.0)
    try:
        c_meas = rs.measured_consumption_l_s(obs.flow_l_s, obs.tank_level_m, wn, net.meters,
                                             net.dmas)
    except rs.ResidualError as exc:
        raise LeakDetectionError(str(exc)) from None
    tick("simulate", 0, len(obs.times))
    tanks = list(wn.tank_name_list)
    p_exp, ops, q_sim, sim_end = exp.expected_hydraulics(
        wn, obs, ratio_t, seconds, loggers + tanks, s.segment_h,
        progress=lambda d, n: tick("simulate", d, n), links=list(net.meters.link.astype(str)))
    if tanks:
        # where tanks buffer a DMA, its expected consumption is the simulation's, read the
        # way SCADA is read (inflow at the step, storage over the step), so the sampling of
        # pumps and tanks at the SCADA step cancels out of the residual
        sim_flow = q_sim.set_axis(list(net.meters.meter_id), axis=1)
        # over the tanks SCADA measures, as the measured consumption is: a tank whose level
        # is missing stores in both the same way (the simulation's own level runs on)
        sim_level = p_exp[[t for t in obs.tank_level_m.columns
                           if t in p_exp.columns and obs.tank_level_m[t].notna().any()]]
        c_exp = rs.measured_consumption_l_s(sim_flow, sim_level, wn, net.meters, net.dmas,
                                            level_end_m=sim_end)
    # 3. residuals, the tanks' level noise filtered out on the DMAs' water balance, hourly,
    # and their baseline
    base_end = obs.times[0].floor("h") + pd.Timedelta(days=s.baseline_days)
    robust = n_hours < 24 * (s.baseline_days + 1)
    quiet = ops.to_numpy() if robust else np.asarray(obs.times < base_end) & ops.to_numpy()
    r_step, filtered = rs.mass_balance_filter(
        c_meas - c_exp, rs.storage_noise_m3(obs.tank_level_m, wn, net.dmas, zones, quiet),
        quiet, obs.step_s)
    if len(filtered):
        notes.append("tank level noise filtered out of the DMAs' water balance: " + ", ".join(
            f"{f.dma} {f.sigma_raw:.1f} to {f.sigma_filtered:.1f} L/s a step"
            for f in filtered.itertuples()))
    r_c = rs.hourly(r_step)
    p_log = p_exp[loggers]
    if s.pressure_at_measured_levels:
        held = exp.pressure_at_measured_levels(
            wn, obs, ratio_t, seconds, loggers, s.segment_h,
            progress=lambda d, n: tick("simulate", d, n))
        p_log = p_log if held is None else held[loggers]
    r_p = rs.hourly(obs.pressure_m[loggers] - p_log)
    q_h = rs.hourly(c_exp)
    q_meas_h = rs.hourly(c_meas).reindex(columns=zones)
    ops_h = rs.hourly(ops.astype(float).to_frame())["operations_match"].reindex(
        r_c.index).fillna(0) >= 0.999
    t = r_c.index
    mask = np.asarray((t < base_end) & ops_h.to_numpy())
    robust = robust or mask.sum() < 48
    if robust:
        mask = ops_h.to_numpy().copy()
        notes.append(f"the period ({n_hours / 24:.1f} days) is too short for a "
                     f"{s.baseline_days:g}-day leak-free baseline plus a day of monitoring: "
                     "the baseline was learned robustly on the whole period, so a leak "
                     "present from its start cannot be seen and alarms are less certain")
        flags.append(qa.flag("baseline", "short", "robust baseline on the whole period"))
    # pressures follow the flows that really ran (head loss in the mains): measured ones, so
    # that the demand noise the meters saw leaves the residual; what a leak adds to the
    # flows is taken out of the sensitivities the same way (location compares differences)
    xp = rs.regressors(q_meas_h.fillna(q_h), pressure=True)
    base_p = rs.fit_baseline(r_p, xp, mask, robust=True)
    e_p = rs.corrected(r_p, xp, base_p)
    flows = flow_inputs(rs.hourly(obs.flow_l_s).reindex(t), q_meas_h.fillna(q_h), net.meters,
                        mask)
    for m in flows.unlearned() if s.boundary_flows else []:
        flags.append(qa.flag(m, "no baseline", f"boundary flow has under "
                             f"{MIN_FLOW_BASELINE_H} leak-free hours; left out of location"))
    # 4. detection: every DMA at once at the detection step, what they share taken out
    min_leak = s.min_leak_m3h * M3H_L_S
    step = max(pd.Timedelta(minutes=s.detect_step_min),
               pd.Timedelta(seconds=exp.scada_step_s(obs.times)))
    pattern = exp.expected_consumption_l_s(wn, net.dmas, np.ones(len(obs.times)), seconds,
                                           obs.times).reindex(columns=zones, fill_value=0.0)
    ramp = rs.within_hour_ramp(pattern, ratio_t) if step < HOUR else None
    detect = partial(_detect_consumption, r_step, c_exp, ramp, ops, step, r_c, q_h, mask,
                     ops_h.to_numpy(), base_end, robust, base_p)
    changes, e_c, calibration, note, crossings = detect(
        s, dma_pressure(obs.pressure_m[loggers] - p_log, net.dmas) if s.burst_test else None)
    if note:
        notes.append(note)
    calibration.attrs["storage_filter"] = filtered.to_dict("records")
    # a second, more sensitive detector whose new leaks the loggers' pressure must confirm
    sensitive = replace(s, false_alarms_per_month=s.confirm_false_alarms_per_month,
                        burst_test=False)
    second = detect(sensitive, None) if s.confirm_false_alarms_per_month > 0 else None
    # 5. location
    n_rises = len(raised(changes, min_leak)) + (len(raised(second[0], min_leak))
                                                 if second is not None else 0)
    sens = _sensitivity(sens, n_rises, net, loggers, client, cache_dir, tick)
    # loggers that moved alone: a drift, unless the logger fell while its DMA drew more
    moved = qa.drifting_loggers(e_p, base_p.sigma, base_end, net.dmas)
    witnesses = qa.fell_with_consumption(e_p, moved, base_end, net.dmas, e_c, min_leak)
    drifting = [lg for lg in moved if lg not in witnesses]
    for lg in drifting:
        flags.append(qa.flag(lg, "drift", "pressure residual drifts unlike its neighbours; "
                             "left out of location"))
    for lg, rise in witnesses.items():
        flags.append(qa.flag(lg, "drift or leak", "pressure residual fell unlike its "
                             f"neighbours while its DMA's consumption rose {rise:.1f} L/s: a "
                             "leak beside it, or a drift; kept in location"))
    use_p = e_p.drop(columns=drifting)
    where = LocationInputs(
        net, s, sens, use_p, loc.logger_noise_m(use_p, mask), loc.pipe_table(wn),
        loc.snapshot_inp_texts(wn) if n_rises and s.size_refine else [],
        float(np.median(loc.nearest_logger_m(net.node_xy, wn.junction_name_list, loggers)))
        if loggers else 0.0, base_p, q_meas_h, q_h, mask, base_end, robust, flows)
    alarms, candidates, covs = locate_rises(changes, e_c, crossings, step, where, tick)
    if second is not None and sens is not None:
        changes_2, e_c_2, _, _, crossings_2 = second
        also, also_cands, _ = locate_rises(changes_2, e_c_2, crossings_2, step, where)
        evidence = pressure_evidence(use_p, net, sens, mask, CONFIRM_WINDOW_H,
                                     s.confirm_quantile)
        extra = confirmed_rises(alarms, also, evidence, net.node_xy, CONFIRM_WINDOW_H,
                                s.confirm_false_alarms_per_month)
        alarms, candidates = with_confirmed(alarms, candidates, extra, also_cands)
        thresholds = ", ".join(f"{z} {e[2]:.1f}" for z, e in evidence.items())
        notes.append(
            f"a second detector designed for {s.confirm_false_alarms_per_month:g} false alarms "
            f"per DMA-month raised {len(extra)} new leak(s) the first missed, each confirmed "
            f"by its DMA's loggers' pressure at its position (thresholds: {thresholds})"
            if evidence else "no DMA has 3 loggers with a leak-free spread: the second, more "
            "sensitive detector had nothing to confirm its leaks and raised none")
        calibration.attrs["pressure_confirmation"] = {
            "false_alarms_per_month": s.confirm_false_alarms_per_month,
            "quantile": s.confirm_quantile, "window_h": CONFIRM_WINDOW_H,
            "threshold": {z: round(e[2], 3) for z, e in evidence.items()}}
    shrunk = [f"{_logger_area(k, net.dmas)} {c.attrs['shrinkage']:.2f}"
              for k, c in covs.items() if c is not None and "shrinkage" in c.attrs]
    if shrunk:
        notes.append("location weighed the loggers by their signature noise's covariance on "
                     "the leak-free days; its correlations shrunk toward none by "
                     + ", ".join(shrunk))
    off = int((~ops_h).sum())
    if off:
        notes.append(f"{off} of {len(ops_h)} hours left out of change detection: the model's "
                     "pumps did not run as SCADA measured")
    res = xr.Dataset(
        {"consumption_l_s": (("time", "dma"), e_c.to_numpy(), {"units": "L/s"}),
         "pressure_m": (("time", "logger"), e_p.to_numpy(), {"units": "m"}),
         "flow_l_s": (("time", "meter"), flows.residual_l_s.to_numpy(), {"units": "L/s"}),
         "operations_match": ("time", ops_h.to_numpy().astype(int), {"units": "1"})},
        coords={"time": t.tz_localize(None), "dma": np.asarray(zones, dtype=str),
                "logger": np.asarray(e_p.columns, dtype=str),
                "meter": np.asarray(flows.residual_l_s.columns, dtype=str)})
    return LeakReport(alarms, changes, candidates, calibration, res,
                      pd.DataFrame(flags, columns=["sensor", "problem", "detail"]), notes)


def raised(changes: pd.DataFrame, min_leak_l_s: float) -> pd.DataFrame:
    """The rises of a detector's changes an alarm is raised for, renumbered from 0.

    A rise well below the smallest leak (its level measured after the alarm) is the
    detector's noise, not a leak: it is kept in the changes, not raised
    (:data:`RISE_SHARE`); nor is a change another DMA's explains.
    """
    return changes[(changes.direction == "up") & (changes.rise >= RISE_SHARE * min_leak_l_s)
                   & (changes.explained_by < 0)].reset_index(drop=True)


@dataclass(frozen=True)
class LocationInputs:
    """What locating a DMA's rises reads, whichever detector raised them.

    Attributes
    ----------
    net : LeakNetwork
    settings : LeakSettings
    sens : Dataset or None
        The loggers' sensitivities (:func:`twin.water.leak_location.leak_sensitivity`);
        None only when there is nothing to locate.
    pressure_m : DataFrame
        hour × logger: corrected pressure residuals of the loggers location uses [m].
    sigma_m : Series
        Each logger's noise as location sees it (departures from the loggers' median) [m].
    pipes : DataFrame
        :func:`twin.water.leak_location.pipe_table`.
    inp_texts : list of str
        The network's snapshots for the sized re-ranking (empty when it is off).
    spacing_m : float
        Median distance from a junction to its nearest logger [m].
    base_p : Baseline
        The pressure residuals' baseline.
    q_meas_l_s, q_expected_l_s : DataFrame
        hour × DMA: measured and expected consumption [L/s].
    mask : ndarray of bool
        The leak-free hours the baselines were learned on.
    baseline_end_utc : Timestamp
    robust : bool
        Whether the baselines were learned robustly on the whole period.
    flows : FlowInputs
        The boundary meters' flow residuals (:func:`flow_inputs`).
    """

    net: LeakNetwork
    settings: LeakSettings
    sens: xr.Dataset | None
    pressure_m: pd.DataFrame
    sigma_m: pd.Series
    pipes: pd.DataFrame
    inp_texts: list
    spacing_m: float
    base_p: rs.Baseline
    q_meas_l_s: pd.DataFrame
    q_expected_l_s: pd.DataFrame
    mask: np.ndarray
    baseline_end_utc: pd.Timestamp
    robust: bool
    flows: FlowInputs


def locate_rises(changes: pd.DataFrame, e_c: pd.DataFrame, crossings: pd.DataFrame,
                 step: pd.Timedelta, w: LocationInputs,
                 tick: Callable[[str, int, int], None] = lambda *_: None,
                 ) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Locate a detector's rises, tell growth from new leaks, and add its burst test.

    Parameters
    ----------
    changes : DataFrame
        The detector's changes (:func:`_detect_consumption`).
    e_c : DataFrame
        hour × DMA: its corrected consumption residuals [L/s].
    crossings : DataFrame
        Its burst test's crossings (empty when off).
    step : Timedelta
        The detection step.
    w : LocationInputs
    tick : callable, optional
        ``tick("locate", done, total)``.

    Returns
    -------
    (DataFrame, DataFrame, dict)
        The alarms (:attr:`LeakReport.alarms`), their candidate positions, and the
        signature noise's covariance per set of loggers (None where not used).
    """
    s = w.settings
    min_leak = s.min_leak_m3h * M3H_L_S
    ups = raised(changes, min_leak)
    t = e_c.index
    use_p = w.pressure_m
    rows, cands, fits = [], [], []
    tick("locate", 0, len(ups))
    # the alarms that cut location windows: not those another DMA's alarm explains
    all_ev = changes[changes.explained_by < 0].sort_values("alarm_utc")
    wh = pd.Timedelta(hours=s.locate_window_h)
    # 5a. when each rise began, and which rises are the one before growing (an episode)
    firsts, starts, head = rise_episodes(ups, all_ev, e_c, t[0])
    # 5b. each episode located once, on its whole course
    where_of: dict[int, tuple] = {}
    covs: dict[tuple, pd.DataFrame | None] = {}
    flow_covs: dict[tuple, pd.DataFrame] = {}
    for i, a in ups.iterrows():
        change, first = starts[i], firsts[i]
        if head[i] != i:
            *where, located = where_of[head[i]]
            rows.append(_alarm_row(i, a, change, where, max(located, a.alarm_utc),
                                   f"growth of alarm {head[i]}: located with it"))
            tick("locate", i + 1, len(ups))
            continue
        members = [j for j in range(len(ups)) if head[j] == i]
        stop = max(locate_until(all_ev, change, [ups.change_utc[j] for j in members],
                                max(starts[j] for j in members), wh, t[-1]),
                   ups.rebased_utc[members[-1]]) - HOUR
        # the leak flow over the same hours (a growing leak is larger there than at its
        # alarm), and the loggers' change per L/s of it, times that flow
        q_win = float(loc.pressure_change(e_c[[a.series]], change, stop, first,
                                          int(s.locate_window_h)).iloc[0])
        q_prior = q_win if np.isfinite(q_win) else a.step
        area = [lg for lg in use_p.columns if str(w.net.dmas.get(lg)) == a.series]
        sig_p = use_p[location_loggers(use_p.columns, w.net.dmas, a.series)] if (
            s.area_loggers) else use_p
        larger = all_ev[all_ev.step.abs() >= s.clear_step_ratio * abs(a.step)]
        lo, hi = clear_window(larger.change_utc, change, max(change - wh, first), stop,
                              [ups.change_utc[j] for j in members])
        dp = measured_signature(sig_p, e_c[a.series], change, lo, hi,
                                max(q_prior, 0.1 * min_leak), s.signature_course)
        # the share of the leak's drop the pressure baseline expects from the flows it
        # regresses on (the leak adds to them), taken out of the positions' changes too
        regressed = regressed_share(w.base_p, w.q_meas_l_s, w.q_expected_l_s, a.series,
                                    change, stop, max(q_prior, 0.0)) if (
            s.baseline_share) else None
        flow = flow_signature(w.flows, a.series, e_c[a.series], change, lo, hi,
                              max(q_prior, 0.1 * min_leak),
                              s.signature_course, s.flow_model_error, flow_covs) if (
            s.boundary_flows) else None
        # the noise of the signature's day means over these loggers, as the leak-free
        # days had it: patterns they share (a pump the model runs otherwise) are noise
        key = tuple(sig_p.columns)
        if key not in covs:
            covs[key] = loc.signature_noise_covariance(sig_p, w.mask) if (
                s.noise_covariance) else None
        flag_txt = timing_flags(a.change_utc, t[0], w.baseline_end_utc, w.robust)
        try:
            ranked, fit, share = signature_positions(
                dp, w.sigma_m, max(q_prior, 0.0), w.sens, w.net, a.series, area, w.spacing_m,
                w.pipes, w.inp_texts, s, regressed_m=regressed, noise_cov=covs[key],
                flow=flow)
            if share < s.narrow_min_posterior:
                flag_txt.append(f"located over the whole DMA: the loggers left {share:.1%} "
                                "of the posterior near the logger that fell most")
        except loc.LeakLocationError as exc:
            flag_txt.append(f"not located: {exc}")
            ranked = None
        if ranked is not None:
            ranked.insert(0, "alarm", i)
            cands.append(ranked)
            fits.append(ranked if fit is ranked else fit.assign(alarm=i))
            b = ranked.iloc[0]
            where = (b.element, b.x_m, b.y_m)
        else:
            where = ("", np.nan, np.nan)
        # the last hour of the window is measured at its end; the day's running means
        # reach half a day past it
        located = max(hi + HOUR + pd.Timedelta(hours=loc.SIGNATURE_SMOOTH_H // 2),
                      a.alarm_utc)
        where_of[i] = (*where, located)
        rows.append(_alarm_row(i, a, change, where, located, "; ".join(flag_txt)))
        tick("locate", i + 1, len(ups))
    alarms = pd.DataFrame(rows, columns=ALARM_COLUMNS)
    alarms["rising"] = [rising(e_c[a.dma], a.change_utc, a.step_l_s, _next_change(
        changes, a.dma, a.alarm_utc)) for a in alarms.itertuples()]
    candidates = pd.concat(cands, ignore_index=True) if cands else pd.DataFrame(
        columns=["alarm", "rank", "element", "kind", "at", "x_m", "y_m", "leak_l_s", "misfit",
                 "distance_m", "probability", "probability_within"])
    # growth compares the best fits, not the reported circles' centres: two leaks' circles
    # in one DMA lie nearer each other than their best fits do
    fitted = pd.concat(fits, ignore_index=True) if fits else candidates
    best = fitted.groupby("alarm")[["x_m", "y_m"]].first()
    of_head = alarms.alarm.map(lambda j: head[j])  # an episode's rises are placed with its first
    grown = _growth(alarms.assign(x_m=of_head.map(best.x_m), y_m=of_head.map(best.y_m)),
                    changes, s.growth_radius_m, fitted, episode_of=head, residual=e_c,
                    mask=w.mask)
    alarms = alarms.assign(kind=grown.kind, growth_of=grown.growth_of)
    if len(crossings):
        alarms = burst_alarms(alarms, det.confirm_bursts(
            crossings, ups, step, pd.Timedelta(hours=det.BURST_REFERENCE_H)), step)
    return alarms, candidates, covs


def known_course(course: str) -> None:
    """Raise :class:`LeakDetectionError` naming ``course`` and the known ones when it is not
    one of :data:`SIGNATURE_COURSES`."""
    if course not in SIGNATURE_COURSES:
        raise LeakDetectionError(f"signature course {course!r}: give one of "
                                 f"{', '.join(SIGNATURE_COURSES)}")


def measured_signature(pressure_m: pd.DataFrame, consumption_l_s: pd.Series, change_utc,
                       lo_utc, hi_utc, leak_l_s: float, course: str) -> pd.Series:
    """A leak's pressure change at each logger [m], for a leak of ``leak_l_s`` [L/s] that
    began at ``change_utc``: the loggers' slope over [``lo_utc``, ``hi_utc``]
    (:func:`twin.water.leak_location.leak_signature`) on the DMA's consumption residual
    (``course`` ``"flow"``) or on a step at the change (``"step"``,
    :func:`twin.water.leak_location.step_course`), times the leak's flow."""
    known_course(course)
    x = consumption_l_s if course == "flow" else loc.step_course(
        consumption_l_s.index, change_utc, leak_l_s)
    return loc.leak_signature(pressure_m, x, lo_utc, hi_utc) * leak_l_s


def pressure_evidence(pressure_m: pd.DataFrame, net: LeakNetwork, sens: xr.Dataset,
                      mask: np.ndarray, window_h: int, quantile: float,
                      ) -> dict[str, tuple[pd.DataFrame, pd.DataFrame, float]]:
    """Each DMA's loggers' evidence, hour by hour, that a leak of the DMA began then.

    Per DMA with at least :data:`MIN_AREA_LOGGERS` loggers: each logger's departure from
    the DMA's loggers' median (what a pump or tank moves alike leaves), its change over
    ``window_h`` hours after each hour against as many before
    (:func:`twin.water.leak_detection.two_window_change`), standardised by its median and
    robust spread (1.4826·MAD) over the leak-free hours; and the DMA's candidate positions'
    sensitivities read the same way (less their median over the loggers, over the loggers'
    spread). The threshold is the ``quantile`` over the leak-free hours of the largest
    matched-filter energy along any of them
    (:func:`twin.water.leak_detection.matched_filter_energy`).

    Parameters
    ----------
    pressure_m : DataFrame
        hour × logger: corrected pressure residuals [m].
    net : LeakNetwork
    sens : Dataset
        The loggers' sensitivities (:func:`twin.water.leak_location.leak_sensitivity`).
    mask : ndarray of bool
        The leak-free hours.
    window_h : int
        Hours on each side [h].
    quantile : float
        [-]

    Returns
    -------
    dict
        DMA → (hour × logger: the standardised changes [-]; junction × logger: the
        standardised sensitivities [-]; the threshold [-]).
    """
    flows = sens["standard_leak_l_s"].to_series()
    known = set(sens.sensor.values)
    out = {}
    for z in rs.zones_of(net.meters):
        own = [lg for lg in pressure_m.columns
               if str(net.dmas.get(lg)) == z and f"P {lg}" in known]
        if len(own) < MIN_AREA_LOGGERS:
            continue
        p = pressure_m[own]
        dp = det.two_window_change(p.sub(p.median(axis=1), axis=0), window_h)
        calm = dp[mask]
        m0 = calm.median()
        sd = 1.4826 * (calm - m0).abs().median()
        own = [lg for lg in own if sd[lg] > 0]
        cand = [j for j in loc.candidate_junctions(net.wn, net.dmas, net.meters, z)
                if j in flows.index and flows[j] > 0]
        if len(own) < MIN_AREA_LOGGERS or not cand:
            continue
        u = (dp[own] - m0[own]) / sd[own]
        S = sens["sensitivity"].sel(junction=cand, sensor=[f"P {lg}" for lg in own]).to_numpy()
        S = pd.DataFrame((S - np.median(S, axis=1, keepdims=True)) / sd[own].to_numpy()[None, :],
                         index=cand, columns=own)
        energy = det.matched_filter_energy(u.to_numpy()[mask], S.to_numpy())
        out[z] = (u, S, float(np.quantile(energy, quantile)))
    return out


def confirmed_rises(alarms: pd.DataFrame, sensitive: pd.DataFrame,
                    evidence: dict[str, tuple[pd.DataFrame, pd.DataFrame, float]],
                    node_xy: pd.DataFrame, window_h: int,
                    false_alarms_per_month: float) -> pd.DataFrame:
    """The sensitive detector's new leaks that the first detector missed and the DMA's
    loggers confirm where it was located.

    A located ``new`` alarm of the sensitive detector counts when no new alarm of its DMA
    began within ``window_h`` of it and, at its start, the matched-filter energy of its
    DMA's loggers' changes along the sensitivity of the candidate junction nearest its
    position exceeds the DMA's threshold (:func:`pressure_evidence`): the loggers saw a
    change, and the one a leak there makes. It is raised once the hours after its start
    that the evidence reads are measured.

    Parameters
    ----------
    alarms, sensitive : DataFrame
        The first and the sensitive detector's alarms (:attr:`LeakReport.alarms`).
    evidence : dict
        :func:`pressure_evidence`.
    node_xy : DataFrame
        Node → ``x_m``, ``y_m`` [m].
    window_h : int
        [h]
    false_alarms_per_month : float
        The sensitive detector's design rate, for the flag [1/month].

    Returns
    -------
    DataFrame
        The confirmed alarms, their ``alarm`` numbers the sensitive detector's.
    """
    w = pd.Timedelta(hours=window_h)
    new = alarms[alarms.kind.isin(NEW_KINDS)]
    keep, flags = [], []
    for r in sensitive[(sensitive.kind == "new") & sensitive.x_m.notna()].itertuples():
        if r.dma not in evidence or (
                (new.dma == r.dma) & ((new.change_utc - r.change_utc).abs() < w)).any():
            continue
        u, S, threshold = evidence[r.dma]
        i = u.index.searchsorted(r.change_utc)
        if i >= len(u):
            continue
        xy = node_xy.loc[S.index, ["x_m", "y_m"]].to_numpy(dtype=float)
        at = int(np.argmin(np.hypot(xy[:, 0] - r.x_m, xy[:, 1] - r.y_m)))
        v = float(det.matched_filter_energy(u.iloc[[i]].to_numpy(), S.iloc[[at]].to_numpy())[0])
        if v > threshold:
            keep.append(r.Index)
            flags.append(f"raised by the sensitive detector ({false_alarms_per_month:g} false "
                         f"alarms a month), confirmed by its loggers' pressure at "
                         f"{S.index[at]} ({v:.1f} over {threshold:.1f})")
    out = sensitive.loc[keep].copy()
    out["flag"] = [f"{f}; {g}" if f else g for f, g in zip(out.flag, flags, strict=True)]
    out["cusum_alarm_utc"] = out.alarm_utc
    out["alarm_utc"] = np.maximum(out.alarm_utc, out.change_utc + w)
    out["located_utc"] = np.maximum(out.located_utc, out.alarm_utc)
    return out


def with_confirmed(alarms: pd.DataFrame, candidates: pd.DataFrame, extra: pd.DataFrame,
                   extra_candidates: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The alarms and candidates with the confirmed alarms appended, numbered on from the
    first detector's."""
    if not len(extra):
        return alarms, candidates
    n0 = int(alarms.alarm.max()) + 1 if len(alarms) else 0
    number = dict(zip(extra.alarm, range(n0, n0 + len(extra)), strict=True))
    extra = extra.assign(alarm=extra.alarm.map(number)).reindex(columns=alarms.columns)
    cands = extra_candidates[extra_candidates.alarm.isin(number)]
    cands = cands.assign(alarm=cands.alarm.map(number))
    out = pd.concat([alarms, extra], ignore_index=True) if len(alarms) else extra
    return out.reset_index(drop=True), pd.concat([candidates, cands], ignore_index=True) if (
        len(candidates)) else cands.reset_index(drop=True)


def _sensitivity(sens: xr.Dataset | None, n_rises: int, net: LeakNetwork, loggers: list[str],
                 client, cache_dir, tick) -> xr.Dataset | None:
    """The loggers' sensitivities: those given, else computed (or read from the cache)
    when there are rises to locate."""
    if sens is not None or not n_rises:
        return sens
    return loc.leak_sensitivity(net.wn, loggers, net.meters, net.dmas, client=client,
                                cache_dir=cache_dir,
                                progress=lambda d, n: tick("sensitivity", d, n))


#: The columns of :attr:`LeakReport.alarms` that location fills in, in order (``rising``,
#: ``kind`` and ``growth_of`` follow).
ALARM_COLUMNS = ("alarm", "dma", "alarm_utc", "change_utc", "rebased_utc", "step_l_s",
                 "leak_m3h", "element", "x_m", "y_m", "located_utc", "flag")


def _alarm_row(i: int, a, change_utc, where, located_utc, flag: str) -> dict:
    """One alarm's row: rise ``a`` (``series``, ``alarm_utc``, ``rebased_utc``, ``step``
    [L/s]) that began at ``change_utc``, placed at ``where`` (element, x [m], y [m])."""
    return dict(zip(ALARM_COLUMNS, (i, a.series, a.alarm_utc, change_utc, a.rebased_utc,
                                    a.step, a.step / M3H_L_S, *where, located_utc, flag), strict=True))


def rise_episodes(ups: pd.DataFrame, events: pd.DataFrame, e_c: pd.DataFrame,
                  first_utc) -> tuple[list, list, list[int]]:
    """When each rise of a DMA's consumption began, and which rises are an earlier one
    growing (an episode, located once on its whole course).

    Parameters
    ----------
    ups : DataFrame
        The rises to locate, in alarm order: ``series``, ``alarm_utc``, ``change_utc``,
        ``rebased_utc``, ``step`` [L/s].
    events : DataFrame
        Every change that cuts a rise's hours (``rebased_utc``, ``change_utc``,
        ``direction``, ``series``, ``alarm_utc``).
    e_c : DataFrame
        hour × DMA: corrected consumption residuals [L/s].
    first_utc : Timestamp
        The period's first hour.

    Returns
    -------
    (list, list, list of int)
        Per rise: the first hour its start may be looked for from (the end of the last
        rebase before it), its start (:func:`twin.water.leak_detection.refine_change`), and
        the row of the episode's first rise (its own when it starts one): a rise is the
        DMA's previous one growing when it does not outgrow that episode's largest rise
        (:func:`outgrows`) and the residual kept rising in between (:func:`continues`).
    """
    firsts, starts, head = [], [], []
    last_up: dict[str, int] = {}
    largest: dict[int, float] = {}  # each episode's largest rise so far [L/s]
    for i, a in ups.iterrows():
        earlier = events[events.rebased_utc < a.change_utc]
        first = max([first_utc] + list(earlier.rebased_utc))
        change = det.refine_change(e_c[a.series], a.change_utc, a.alarm_utc, first)
        p = last_up.get(a.series)
        head.append(head[p] if p is not None and not outgrows(
            a.step, largest[head[p]]) and continues(e_c[a.series], events, ups.loc[p],
                                                   starts[p], a, change) else i)
        largest[head[i]] = max(largest.get(head[i], a.step), a.step)
        firsts.append(first)
        starts.append(change)
        last_up[a.series] = i
    return firsts, starts, head


def regressed_share(base: rs.Baseline, q_meas_l_s: pd.DataFrame, q_expected_l_s: pd.DataFrame,
                    dma: str, change_utc, stop_utc, leak_l_s: float,
                    pressure: bool = True) -> pd.Series:
    """What the pressure baseline takes out of a leak's drop, per L/s of leak
    (:func:`twin.water.leak_location.baseline_share`), at the DMAs' measured flows over
    the leak's hours [m per L/s]; with ``pressure`` False, what the boundary flows' baseline
    takes out of the meters' change [L/s per L/s].

    Parameters
    ----------
    base : Baseline
        The residuals' baseline (its ``coef``: logger or meter × regressor,
        :func:`twin.water.leak_residuals.regressors` with ``pressure``).
    q_meas_l_s, q_expected_l_s : DataFrame
        hour × DMA: measured and expected consumption [L/s]; a DMA whose meters missed
        all the leak's hours takes its expected mean over the whole period.
    dma : str
        The leak's DMA.
    change_utc, stop_utc : Timestamp
        The leak's hours, both ends included.
    leak_l_s : float
        The leak flow [L/s].
    """
    t = q_meas_l_s.index
    q_with = q_meas_l_s[(t >= change_utc) & (t <= stop_utc)].mean().fillna(
        q_expected_l_s.mean())
    q_without = q_with.copy()
    q_without[dma] = max(q_with[dma] - leak_l_s, 0.0)
    return loc.baseline_share(
        base.coef, rs.regressors(q_with.to_frame().T, pressure=pressure).iloc[0],
        rs.regressors(q_without.to_frame().T, pressure=pressure).iloc[0], leak_l_s)


#: Leak-free hours of a boundary meter's flow that location needs to read it: two days of
#: day means [h].
MIN_FLOW_BASELINE_H = 48


@dataclass(frozen=True)
class FlowInputs:
    """What locating on the boundary meters reads (:func:`flow_signature`).

    Attributes
    ----------
    meters : DataFrame
        Boundary meters: ``meter_id``, ``link``, ``from_zone``, ``to_zone``.
    residual_l_s : DataFrame
        hour × meter: the flows less what the DMAs' measured consumption sets [L/s].
    base : Baseline
        Their baseline (:func:`twin.water.leak_residuals.regressors` without pressure).
    consumption_l_s : DataFrame
        hour × DMA: the measured consumption it regresses on [L/s].
    mask : ndarray of bool
        The leak-free hours it was learned on.
    """

    meters: pd.DataFrame
    residual_l_s: pd.DataFrame
    base: rs.Baseline
    consumption_l_s: pd.DataFrame
    mask: np.ndarray

    def unlearned(self, min_hours: int = MIN_FLOW_BASELINE_H) -> list[str]:
        """Meters with fewer than ``min_hours`` leak-free hours of residual: no baseline or
        noise to read them by, so location leaves them out."""
        have = self.residual_l_s[self.mask].notna().sum()
        return [str(m) for m in self.residual_l_s.columns if have[m] < min_hours]



def flow_inputs(flow_l_s: pd.DataFrame, consumption_l_s: pd.DataFrame, meters: pd.DataFrame,
                mask: np.ndarray) -> FlowInputs:
    """The boundary meters' flows less what the DMAs' measured consumption sets: what is
    left moves with where a leak draws its water from.

    Parameters
    ----------
    flow_l_s : DataFrame
        hour × meter: measured boundary flows [L/s].
    consumption_l_s : DataFrame
        hour × DMA: measured consumption [L/s] (the expected where a meter missed).
    meters : DataFrame
        Boundary meters.
    mask : ndarray of bool
        The leak-free hours the baseline (a constant and each DMA's consumption) is
        learned on, robustly.
    """
    x = rs.regressors(consumption_l_s, pressure=False)
    base = rs.fit_baseline(flow_l_s, x, mask, robust=True)
    return FlowInputs(meters, rs.corrected(flow_l_s, x, base), base, consumption_l_s, mask)


def flow_signature(f: FlowInputs, dma: str, consumption_l_s: pd.Series, change_utc, lo_utc,
                   hi_utc, leak_l_s: float, course: str, model_error: float, covs: dict
                   ) -> loc.FlowSignature | None:
    """The boundary meters' part of a DMA's leak signature
    (:class:`twin.water.leak_location.FlowSignature`): each of the DMA's meters' flow
    residual regressed on the leak's course as the loggers' are (:func:`measured_signature`
    with ``course`` and the DMA's ``consumption_l_s`` residual, over [``lo_utc``,
    ``hi_utc``], for a leak of ``leak_l_s`` [L/s] from ``change_utc``), with what the
    flows' baseline takes out of the leak, the change's noise on the leak-free days (cached
    in ``covs`` by the meters) and the model's relative error ``model_error`` [-]; None
    when the DMA has no meter with a residual and a baseline (:meth:`FlowInputs.unlearned`
    are left out)."""
    m = f.meters
    left_out = set(f.unlearned())
    mine = [x for x in m.meter_id[(m.from_zone == dma) | (m.to_zone == dma)].astype(str)
            if x in f.residual_l_s.columns and x not in left_out]
    if not mine:
        return None
    e_f = f.residual_l_s[mine]
    key = tuple(mine)
    if key not in covs:
        covs[key] = loc.signature_noise_covariance(e_f, f.mask, common_mode=False)
    change = measured_signature(e_f, consumption_l_s, change_utc, lo_utc, hi_utc, leak_l_s,
                                course)
    return loc.FlowSignature(
        change, regressed_share(f.base, f.consumption_l_s, f.consumption_l_s, dma, change_utc,
                                hi_utc, leak_l_s, pressure=False),
        covs[key], m.set_index(m.meter_id.astype(str)).link.astype(str), model_error)


def timing_flags(change_utc, first_utc, baseline_end_utc, robust: bool) -> list[str]:
    """What an alarm's time says of how certain it is: a baseline learned robustly over the
    whole period, a change inside the leak-free baseline period, or one in the first day,
    with little before it to compare with."""
    flags = []
    if robust:
        flags.append("robust baseline")
    if change_utc < baseline_end_utc and not robust:
        flags.append("in the baseline period")
    if (change_utc - first_utc) < pd.Timedelta(hours=24):
        flags.append("in the first hours: little before the change to compare with")
    return flags


def _logger_area(loggers, dmas: pd.Series) -> str:
    """The DMA a set of loggers lies in, or how many loggers of several DMAs it holds."""
    zones = {str(dmas.get(lg, "")) for lg in loggers}
    return zones.pop() if len(zones) == 1 else f"{len(loggers)} loggers of {len(zones)} DMAs"


def location_loggers(loggers, dmas: pd.Series, dma: str,
                     min_count: int = MIN_AREA_LOGGERS) -> list[str]:
    """The loggers a leak alarmed by ``dma``'s balance is located on: the DMA's own (its
    leak's drop is seen there; loggers elsewhere see it only as the head lost in the mains
    feeding the DMA, and see their own DMAs' leaks and demand), or all of ``loggers`` when
    the DMA has fewer than ``min_count`` (the common mode, their median, would be the
    signature itself).

    Chosen on ``benchmarks/bench_leaks.py`` (KL, 3 seeds of 70 days, 24 leaks): a 16 m³/h
    leak's signature over every logger had a correlation of -0.12 with its own pipe's
    sensitivity while another DMA's leak grew; on the DMA's loggers, found 15 to 16/24,
    median location error 277 to 104 m.
    """
    own = [lg for lg in loggers if str(dmas.get(lg, "")) == dma]
    return own if len(own) >= min_count else list(loggers)


#: Hours after a change over which a leak's rise is measured [h].
RISE_WINDOW_H = 72
#: Days a rising leak may keep raising alarms that are its growth [day].
GROWTH_DAYS = 14
#: Largest rise, in times the largest rise an earlier leak has made (its first step or a
#: growth's), that can be that leak growing [-]. A leak growing at a steady rate is seen by
#: the CUSUM, rebased after each alarm, the same way each time: its growth alarms come at
#: steps about its first one (about sqrt(2·h·rate) for a threshold h), so no growth step is
#: several times the leak's earlier ones; a rise that is, is a leak of its own (a burst
#: beside a small leak, or beside a large one that has stopped growing). Stated, not
#: fitted: three times leaves the steps' own noise room. Against the flow the leak had
#: reached (its steps summed, main 0db892f) on ``benchmarks/bench_leaks.py``, eight sets of
#: 3 seeds: every alarm the same but BWSN seed 2's 162 m³/h burst, 145 m from a 129 m³/h
#: incipient leak that had grown to it in eight steps of 7-22 m³/h, a leak of its own
#: (found 13 to 14/24 on BWSN; 113 of 192 in all).
GROWTH_STEP_RATIO = 3.0
#: Hours after a leak's latest change within which a later rise near it may be its growth
#: whatever its shape, as that shape cannot yet be told from its own hours [h]. The shape
#: (:func:`rising`) is the least-squares slope of the DMA's residual from the change to its
#: next change (at most :data:`RISE_WINDOW_H`); it needs a day of hours, and what is left of
#: the day's cycle in the residual tilts a slope over a span of few days. Chosen among 24,
#: 48 and 72 h by measurement (``benchmarks/bench_leaks.py``, the eight sets of 3 seeds of
#: 70 days, main b028da9): 72 h (before) found 126 of 192; 48 h 130 (KL seed 2's
#: 22 m³/h burst 57 h after a 142 m³/h one that had stayed flat, its alarm placed 255 m
#: from it and within 300 m of the first's; BIN seed 1's 30 m³/h; GOY seeds 0 and 2's 3 and
#: 91 m³/h), false alarms 85 to 89; 24 h found the same 130 with 100 false alarms (BWSN
#: 0.82 to 0.97 per DMA-month). One run of 36 cases (six networks, 6 seeds): 184 to 188 of
#: 288, false alarms 0.49 to 0.51 per DMA-month.
SHAPE_KNOWN_H = 48
#: Spreads of a leak-free slope by which the hours between an earlier leak's change and a
#: later rise must show it flat for the rise to be a new leak (:func:`stayed_flat`): about
#: the one-sided 97.7 % bound [-]. Stated, not fitted.
FLAT_Z = 2.0
#: Hours after an earlier change and before a later one that :func:`stayed_flat` leaves
#: out [h].
FLAT_EDGE_H = 2
#: Share of a leak's step that a fall of its DMA's consumption must reach to be its repair
#: (a repair takes the whole flow away; half of it leaves room for the noise of both
#: steps) [-]. Stated, not fitted: on ``benchmarks/bench_leaks.py`` (KL, 3 seeds of 70
#: days) found and false alarms as with every fall a repair (17/24, 0.77 per DMA-month), on
#: 5 further seeds false alarms 1.19 to 1.13, found 17/40 both.
REPAIR_SHARE = 0.5


def _next_change(changes: pd.DataFrame, series: str, after) -> pd.Timestamp | None:
    later = changes[(changes.series == series) & (changes.alarm_utc > after)]
    return later.change_utc.min() if len(later) else None


def rising(x: pd.Series, change_utc, step: float, until=None,
           window_h: int = RISE_WINDOW_H) -> bool:
    """Whether a leak's residual keeps rising after its change: the least-squares slope over
    ``window_h`` hours (not past ``until``, the next change of the series) adds more than
    half the step again (an incipient leak)."""
    stop = change_utc + pd.Timedelta(hours=window_h)
    if until is not None and not pd.isna(until):
        stop = min(stop, until)
    seg = x[(x.index >= change_utc) & (x.index < stop)]
    seg = seg.dropna()
    if len(seg) < window_h // 3 or not np.isfinite(step) or step <= 0:
        return False
    h = (seg.index - seg.index[0]) / pd.Timedelta(hours=1)
    slope = float(np.polyfit(np.asarray(h, dtype=float), seg.to_numpy(dtype=float), 1)[0])
    return slope * window_h > 0.5 * step


def continues(x: pd.Series, changes: pd.DataFrame, before, before_change_utc, after,
              after_change_utc, min_h: int = 6) -> bool:
    """Whether a rise of a DMA's consumption is the rise before it still growing.

    The rule (stated, not fitted to any truth): no fall of the DMA's consumption came
    between the two alarms, at least ``min_h`` hours lie between their changes, and the
    residual ``x`` kept rising over those hours: its least-squares slope over them adds
    more than half the earlier step (:func:`rising` over the span between the changes).
    An abrupt second leak on a steady first one finds the residual flat in between.

    Parameters
    ----------
    changes : DataFrame
        Every change (:func:`twin.water.leak_detection.detect_changes`).
    before, after : row
        The two rises (``series``, ``alarm_utc``, ``step``), ``before`` the earlier.
    before_change_utc, after_change_utc : Timestamp
        When each began (refined).
    """
    fell = changes[(changes.series == after.series) & (changes.direction == "down")
                   & (changes.alarm_utc > before.alarm_utc)
                   & (changes.alarm_utc < after.alarm_utc)]
    span_h = int((after_change_utc - before_change_utc) / HOUR)
    return not len(fell) and span_h >= min_h and rising(
        x, before_change_utc, float(before.step), after_change_utc, span_h)


def locate_until(changes: pd.DataFrame, change_utc, own_changes_utc, last_change_utc,
                 window: pd.Timedelta, end_utc) -> pd.Timestamp:
    """Where the hours that locate a rise end: ``window`` after the last change of its
    episode (the rise and its growth), at the next change of any series that is another
    event's (:func:`other_changes`: not the episode's own, not within the hour after its
    start), or at ``end_utc``, whichever comes first."""
    later = [c for c in other_changes(changes.change_utc, change_utc, own_changes_utc)
             if c > change_utc]
    return min([last_change_utc + window, end_utc, *later])


def other_changes(change_times, change_utc, own_changes_utc) -> list[pd.Timestamp]:
    """The changes that are not a rise's own: not of its episode (``own_changes_utc``, its
    growth) and not within an hour of its start ``change_utc`` (the same event, seen in
    another series a step earlier or later).

    Parameters
    ----------
    change_times : iterable of Timestamp
        Changes of any series.
    change_utc : Timestamp
        The rise's start.
    own_changes_utc : iterable of Timestamp
        The changes of its episode.

    Returns
    -------
    list of Timestamp
        Those of ``change_times`` that are another event's, in their order.
    """
    own = set(own_changes_utc)
    return [c for c in change_times if c not in own and abs(c - change_utc) > HOUR]


def clear_window(change_times, change_utc, lo_utc, hi_utc, own_changes_utc,
                 smooth_h: int = loc.SIGNATURE_SMOOTH_H, min_h: int = 6
                 ) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The hours of a signature's window whose day means hold no other change.

    A signature regresses the loggers' centred ``smooth_h``-hour means
    (:func:`twin.water.leak_location.leak_signature`); the mean at an hour within half a day
    of another change holds part of it, which the leak's own course does not model. The
    window [``lo_utc``, ``hi_utc``] is narrowed so that no hour's mean reaches another
    event's change of ``change_times`` (:func:`other_changes`: not the episode's own, not
    within an hour of ``change_utc``), keeping at least ``min_h`` hours on either side of
    ``change_utc`` where the window had them.

    Parameters
    ----------
    change_times : iterable of Timestamp
        The changes to keep clear of (the twin's: any series' change at least
        :data:`CLEAR_STEP_RATIO` times the leak's step).
    change_utc : Timestamp
        The leak's start.
    lo_utc, hi_utc : Timestamp
        The window's first and last hour before the clearing.
    own_changes_utc : list of Timestamp
        The changes of the leak's own episode (its growth), which its course holds.
    smooth_h : int
        Hours of the signature's centred running mean [h].
    min_h : int
        Hours kept on either side of ``change_utc`` whatever the clearing [h].

    Returns
    -------
    (Timestamp, Timestamp)
        The narrowed window's first and last hour.
    """
    half = pd.Timedelta(hours=smooth_h // 2) + HOUR
    other = other_changes(change_times, change_utc, own_changes_utc)
    lo = max([lo_utc] + [c + half for c in other if c < change_utc])
    hi = min([hi_utc] + [c - half for c in other if c > change_utc])
    keep = pd.Timedelta(hours=min_h)
    return (min(lo, max(lo_utc, change_utc - keep)), max(hi, min(hi_utc, change_utc + keep)))


def signature_positions(dp_m: pd.Series, sigma_m: pd.Series, leak_l_s: float,
                        sens: xr.Dataset, net: LeakNetwork, dma: str, area_loggers: list[str],
                        spacing_m: float, pipes: pd.DataFrame, inp_texts,
                        settings: LeakSettings, **rank_options
                        ) -> tuple[pd.DataFrame, pd.DataFrame, float]:
    """Where a DMA's leak is, from its signature at the loggers: the DMA's candidate
    junctions (:func:`twin.water.leak_location.candidate_junctions`) narrowed to those near
    the area's logger that fell most unless the loggers reject that
    (:func:`twin.water.leak_location.near_largest_drop`,
    :func:`twin.water.leak_location.narrowing_kept`), then ranked (:func:`ranked_positions`)
    by the fit and, with a search radius, by the probability within it.

    Parameters
    ----------
    dp_m, sigma_m, leak_l_s, sens
        As :func:`ranked_positions`: the signature and the loggers' noise [m], the prior
        leak flow [L/s], the sensitivities.
    net : LeakNetwork
    dma : str
        The alarming DMA.
    area_loggers : list of str
        The DMA's own loggers (where the largest drop is looked for).
    spacing_m : float
        The loggers' spacing: median distance from a junction to its nearest logger [m].
    pipes, inp_texts
        :func:`twin.water.leak_location.pipe_table` and the sized re-ranking's snapshots.
    settings : LeakSettings
        ``drop_spacings``, ``narrow_min_posterior``, ``rank_metric``, ``top``,
        ``size_refine``, ``search_radius_m``.
    **rank_options
        ``regressed_m``, ``noise_cov``: passed to
        :func:`twin.water.leak_location.rank_locations`.

    Returns
    -------
    (DataFrame, DataFrame, float)
        The positions to report (by the search radius's probability when it is set), the
        positions by fit, and the share of the posterior the narrowed junctions held [-].

    Raises
    ------
    LeakLocationError
        When no logger has a change or no candidate can leak.
    """
    s = settings
    dma_cand = loc.candidate_junctions(net.wn, net.dmas, net.meters, dma)
    cand = loc.near_largest_drop(dp_m, dma_cand, area_loggers, net.node_xy,
                                 s.drop_spacings * spacing_m)
    opts = dict(metric=s.rank_metric, **rank_options)
    cand, share = loc.narrowing_kept(dp_m, sigma_m, leak_l_s, sens, dma_cand, cand,
                                     net.node_xy, s.narrow_min_posterior, **opts)
    args = (dp_m, sigma_m, leak_l_s, sens, cand, net.node_xy, pipes, inp_texts, s.top,
            s.size_refine)
    ranked = fit = ranked_positions(*args, **opts)
    if s.search_radius_m > 0:
        ranked = ranked_positions(*args, search_radius_m=s.search_radius_m, **opts)
    return ranked, fit, share


def ranked_positions(dp_m: pd.Series, sigma_m: pd.Series, leak_l_s: float,
                     sens: xr.Dataset, candidates: list[str], node_xy: pd.DataFrame,
                     pipes: pd.DataFrame, inp_texts, top: int, size_refine: int,
                     search_radius_m: float = 0.0, **rank_options) -> pd.DataFrame:
    """Leak positions ranked against a change's signature: the candidate junctions first,
    then, when ``size_refine`` is set, the best ``size_refine`` of them again with the
    change a leak of the fitted size makes there, with points along the pipes between them
    (:func:`twin.water.leak_location.refine_with_size`).

    Parameters
    ----------
    dp_m, sigma_m : Series
        Per logger: the signature (pressure change) and its noise [m].
    leak_l_s : float
        Prior leak flow [L/s].
    sens : Dataset
        Sensitivities (:func:`twin.water.leak_location.leak_sensitivity`).
    candidates : list of str
        Candidate junctions.
    node_xy : DataFrame
        ``x_m``, ``y_m`` per node [m].
    pipes : DataFrame
        :func:`twin.water.leak_location.pipe_table`.
    inp_texts : sequence of str
        Snapshots for the sized re-ranking (:func:`twin.water.leak_location.
        snapshot_inp_texts`).
    top, size_refine : int
        Positions returned; junctions re-ranked with the fitted size (0: none).
    search_radius_m : float
        Rank by the posterior probability within this radius [m]; 0 ranks by the fit. The
        pipes' points are then ranked from the start: the probability within the radius is
        summed over every position.
    **rank_options
        Passed to :func:`twin.water.leak_location.rank_locations`.

    Returns
    -------
    DataFrame
        ``top`` rows of :func:`twin.water.leak_location.rank_locations`, best first.
    """
    whole = pipes if search_radius_m > 0 or not size_refine else None
    ranked = loc.rank_locations(dp_m, sigma_m, leak_l_s, sens, candidates, node_xy, whole,
                                max(top, size_refine), search_radius_m=search_radius_m,
                                **rank_options)
    if not size_refine:
        return ranked
    return loc.refine_with_size(ranked, dp_m, sigma_m, leak_l_s, inp_texts, node_xy, pipes,
                                top, search_radius_m=search_radius_m, **rank_options)


def _growth(alarms: pd.DataFrame, changes: pd.DataFrame, radius_m: float,
            candidates: pd.DataFrame | None = None,
            episode_of: list[int] | None = None,
            residual: pd.DataFrame | None = None, mask: np.ndarray | None = None
            ) -> pd.DataFrame:
    """Mark alarms that are an earlier, unrepaired leak of the same DMA growing.

    An alarm is growth of an earlier ``new`` alarm of its DMA when no fall of consumption
    that could be its repair (at least :data:`REPAIR_SHARE` of its step, not explained by
    another DMA's change) came between them and their positions are within ``radius_m``;
    an alarm that could not be located is growth of an earlier one that was still rising
    (:func:`rising`) and began less than :data:`GROWTH_DAYS` before. A located alarm far
    from a rising leak is a new leak: on ``benchmarks/bench_leaks.py`` (KL, 3 seeds of 70
    days) taking every alarm of a young rising leak's DMA as its growth had merged 3 new
    leaks placed within 300 m (4.1-77.6 m³/h) into earlier ones; by position, found 12 to
    15/24 and false alarms 0.82 to 0.87 per DMA-month.

    With ``candidates`` (the positions listed per alarm: rows of
    :func:`twin.water.leak_location.rank_locations` with ``alarm``), an alarm is near the
    earlier leak when any of its listed positions is: a repeat alarm whose signature puts
    the earlier leak's place among its best is that leak again. Same bench: as with the
    best position alone (17/24, 0.77); on 5 further seeds false alarms 1.13 to 1.01 per
    DMA-month, found 17/40 both; CTOWN 0.63 to 0.58, found 9/24 both.

    Near is not enough: the earlier leak must also be one that grows (:func:`may_grow`),
    judged from its latest alarm (its own, or the latest taken as its growth): the DMA kept
    rising after that alarm's change, or the later rise came within :data:`SHAPE_KNOWN_H`
    of it, where its shape is not yet known. A steady leak does not grow, nor one that grew
    and stopped: a later rise near it is a leak of its own. On ``benchmarks/bench_leaks.py``
    (3 seeds of 70 days) judging from the leak's first alarm only made 4 alarms new, each a
    new leak's own (in its window and DMA): CTOWN 0-2 found 11 to 12/24 (seed 1's 8.1 m³/h
    leak, placed 62 m from it, where an abrupt 12.7 m³/h leak's alarm had been placed 947 m
    from its own), false alarms 0.43 to 0.48 per DMA-month (seed 2's 20.2 m³/h leak's
    alarm, placed 1.1 km off); CTOWN 5-7 9 to 10/24 (a 78 m³/h burst, 188 m), 0.58 both;
    KL 0-2 16/24 both, 0.48 to 0.53 (seed 1's 7.1 m³/h leak's alarm, 304 m); KL 3-5 as
    before. Judging from the latest alarm, not taking any leak that once grew as one that
    grows still (main 4b2b836, the eight sets): found 113 to 116 of 192 (CTOWN 0-2 14 to
    15/24, BWSN 14 to 16/24: an 8, an 87 and a 38 m³/h leak whose alarms, placed 124, 60
    and 31 m from them, had been taken as the growth of a leak that had stopped growing
    days before), false alarms up on CTOWN 0-2 (0.24 to 0.39 per DMA-month), CTOWN 5-7
    (0.48 to 0.53) and GOY (0.48 to 0.68), the rest as before.

    With ``residual`` (hour × DMA: the corrected consumption residuals [L/s]) and ``mask``
    (its leak-free hours), a rise within :data:`SHAPE_KNOWN_H` of the leak's latest change
    is not its growth when the hours between them already show the residual flat
    (:func:`stayed_flat`): a burst beside a steady leak the day after it. On
    ``benchmarks/bench_leaks.py``'s cases (seeds 0-17, 108 cases, scored as there) found 590
    to 594 of 864, none lost (BWSN seed 16's 47 m³/h burst 13 h after a 61 m³/h one 165 m
    from it, now placed 29 m from it; GOY seeds 5, 11 and 16's 51, 8 and 130 m³/h leaks);
    17 more false alarms, 15 of them repeats of a leak already found. The slope's spread
    taken from those few hours' own scatter instead judged an incipient leak's slow climb
    flat too often: 599 found, 36 more false alarms (34 repeats).
    """
    kind, of = [], []
    latest: dict[int, pd.Series] = {}  # each new leak's latest alarm: its own or a growth's
    largest: dict[int, float] = {}  # each new leak's largest rise: its step or a growth's
    downs = changes[changes.direction == "down"]
    if "explained_by" in downs:
        downs = downs[downs.explained_by < 0]
    for _, a in alarms.iterrows():
        k, o = "new", -1
        prior = alarms[(alarms.dma == a.dma) & (alarms.alarm_utc < a.alarm_utc)]
        for _, p in prior[::-1].iterrows():
            if kind[int(p.alarm)] != "new":
                continue
            # a repair takes the leak's whole flow away: a smaller fall, or one another
            # DMA's change explains, is noise or demand, not its end
            fell = downs[(downs.series == a.dma) & (downs.alarm_utc > p.alarm_utc)
                         & (downs.alarm_utc < a.alarm_utc)
                         & (-downs.step >= REPAIR_SHARE * p.step_l_s)]
            if len(fell):
                break
            d = float(np.hypot(a.x_m - p.x_m, a.y_m - p.y_m))
            if candidates is not None and np.isfinite(d):
                # the nearest of the positions listed for it: those its signature tells
                # apart least from the best
                c = candidates[candidates.alarm == a.alarm]
                listed = np.hypot(c.x_m.to_numpy(float) - p.x_m, c.y_m.to_numpy(float) - p.y_m)
                d = min(d, float(listed.min())) if len(listed) else d
            young = a.alarm_utc - p.change_utc < pd.Timedelta(days=GROWTH_DAYS)
            member = episode_of is not None and episode_of[int(a.alarm)] == int(p.alarm)
            if not member and outgrows(a.step_l_s, largest[int(p.alarm)]):
                continue
            last = latest[int(p.alarm)]
            near = bool(np.isfinite(d) and d <= radius_m)
            # only asked where it decides: near, not of the episode, not known to be rising
            flat = (near and not member and not bool(last.rising) and residual is not None
                    and mask is not None and stayed_flat(residual[a.dma], mask,
                                                         last.change_utc, a.change_utc,
                                                         float(a.step_l_s)))
            if member or ((near and may_grow(last, a.change_utc, flat=flat))
                          if np.isfinite(d) else (p.rising and young)):
                k, o = "growth", int(p.alarm)
                break
        kind.append(k)
        of.append(o)
        if k == "new":
            largest[int(a.alarm)] = max(float(a.step_l_s), 0.0)
            latest[int(a.alarm)] = a
        else:
            largest[o] = max(largest[o], float(a.step_l_s))
            latest[o] = a
    return alarms.assign(kind=kind, growth_of=of)


#: Kinds of alarm scored as a new leak's: the located new ones and the burst test's
#: crossings no CUSUM alarm confirmed (:func:`burst_alarms`; no position: a false alarm
#: by BattLeDIM's rule).
NEW_KINDS = ("new", "burst, unconfirmed")


def dma_pressure(residual: pd.DataFrame, dmas: pd.Series) -> pd.DataFrame:
    """Each DMA's loggers' pressure residual, less what all loggers share: the mean over the
    DMA's loggers of each logger's residual less the median over every logger at that step
    [m] (a burst draws its own DMA's pressure down more than the others'; a pump or tank
    the model runs otherwise moves them all).

    Parameters
    ----------
    residual : DataFrame
        time × logger: measured less expected pressure [m].
    dmas : Series
        Node → DMA.

    Returns
    -------
    DataFrame
        time × DMA, for the DMAs with at least one logger [m].
    """
    rel = residual.sub(residual.median(axis=1), axis=0)
    zone = pd.Series({lg: str(dmas.get(lg, "")) for lg in rel.columns})
    return pd.DataFrame({z: rel[list(zone.index[zone == z])].mean(axis=1)
                         for z in sorted(set(zone)) if z}, index=residual.index)


def burst_alarms(alarms: pd.DataFrame, bursts: pd.DataFrame, step: pd.Timedelta) -> pd.DataFrame:
    """The alarms as the burst test told them: sooner, and its unconfirmed crossings added.

    An alarm a crossing confirmed (``status`` ``sooner``,
    :func:`twin.water.leak_detection.confirm_bursts`) is raised at the crossing's time (the
    operator was told then); its change, position and kind are the CUSUM's. A crossing no
    CUSUM alarm confirmed is an alarm of its own, kind ``burst, unconfirmed``: its DMA, time,
    the window's step as its size and the window's start as its change, no position.

    Parameters
    ----------
    alarms : DataFrame
        :class:`LeakReport`'s alarms (``alarm`` numbers the CUSUM's).
    bursts : DataFrame
        :func:`twin.water.leak_detection.confirm_bursts` (``event``: an alarm number).
    step : Timedelta
        The detection step (the crossings' windows are counted in it).

    Returns
    -------
    DataFrame
        The alarms with ``cusum_alarm_utc`` (when the CUSUM raised it; NaT for the burst
        test's own) and the unconfirmed crossings appended, numbered on.
    """
    out = alarms.assign(cusum_alarm_utc=alarms.alarm_utc)
    for b in bursts[bursts.status == "sooner"].itertuples():
        at = out.alarm == b.event
        out.loc[at, "alarm_utc"] = b.alarm_utc
        out.loc[at, "flag"] = [f"{f}; " if f else "" for f in out.flag[at]]
        out.loc[at, "flag"] += (f"raised by the burst test ({b.size:.1f} L/s over "
                                f"{b.window * step / HOUR:g} h, {b.z:.1f} σ"
                                + _fall_text(b) + ")")
    un = bursts[bursts.status == "unconfirmed"].reset_index(drop=True)
    if not len(un):
        return out
    n0 = int(out.alarm.max()) + 1 if len(out) else 0
    extra = pd.DataFrame({
        "alarm": np.arange(n0, n0 + len(un)), "dma": un.series, "alarm_utc": un.alarm_utc,
        "change_utc": un.alarm_utc - un.window.astype(int) * step,
        "step_l_s": un["size"].astype(float), "leak_m3h": un["size"].astype(float) / M3H_L_S,
        "element": "", "x_m": np.nan, "y_m": np.nan,
        "flag": [f"burst test: {r.size:.1f} L/s over the last {r.window * step / HOUR:g} h "
                 f"({r.z:.1f} σ{_fall_text(r)}); no CUSUM alarm of its DMA confirmed it within "
                 f"{det.BURST_CONFIRM_H:g} h" for r in un.itertuples()],
        "rising": False, "kind": NEW_KINDS[1], "growth_of": -1})
    # columns the crossings have no value for take the alarms' types (a time stays a time)
    extra = extra.reindex(columns=out.columns)
    extra = extra.astype({c: out[c].dtype for c in out.columns if extra[c].isna().all()})
    return pd.concat([out, extra], ignore_index=True) if len(out) else extra


def _fall_text(b) -> str:
    """The loggers' fall behind a burst crossing, for its flag ('' when not measured)."""
    fall = getattr(b, "pressure_fall", np.nan)
    return f", its loggers fell {fall:.1f} σ" if fall == fall else ""


def outgrows(step: float, largest_rise: float, ratio: float = GROWTH_STEP_RATIO) -> bool:
    """Whether a rise of ``step`` [L/s] is too large to be the growth of a leak whose
    largest rise so far (its first step or one taken as its growth) was ``largest_rise``
    [L/s]: more than ``ratio`` times it (:data:`GROWTH_STEP_RATIO`)."""
    return max(float(step), 0.0) > ratio * max(float(largest_rise), 0.0)


def may_grow(latest, change_utc, window_h: int = SHAPE_KNOWN_H, flat: bool = False) -> bool:
    """Whether an earlier leak may be growing at a later rise's change ``change_utc``, from
    its latest alarm (its own, or the latest taken as its growth: a row with ``rising``,
    ``change_utc``): the DMA kept rising after that alarm's change (an incipient leak still
    growing, :func:`rising`), or the later change comes within ``window_h`` [h] of it,
    before its shape could be told (:data:`SHAPE_KNOWN_H`) unless the hours between the
    two changes already show it ``flat`` (:func:`stayed_flat`). A leak that has stopped
    growing, or was flat from the start, does not grow again: its DMA rising later has a
    new leak."""
    return bool(latest.rising) or (
        not flat and change_utc - latest.change_utc <= pd.Timedelta(hours=window_h))


def _slope_weights(n: int) -> np.ndarray:
    """Weights whose dot product with ``n`` evenly spaced values is their least-squares
    slope per step."""
    k = np.arange(n, dtype=float) - (n - 1) / 2
    return k / (k @ k)


def slope_spread(x: pd.Series, mask: np.ndarray, n_h: int) -> float:
    """Spread of the least-squares slope of ``n_h`` consecutive hours of a residual where it
    holds no leak [units per h]: the standard deviation over every window of the leak-free
    hours ``mask`` (each hour in it and finite), with what is left of the day's cycle and the
    residual's memory in it; NaN where fewer than 10 windows fit."""
    y = x.to_numpy(dtype=float)
    ok = np.asarray(mask, dtype=bool) & np.isfinite(y)
    if n_h < 3 or len(y) < n_h:
        return float("nan")
    slopes = np.convolve(np.where(ok, y, 0.0), _slope_weights(n_h)[::-1], mode="valid")
    whole = np.convolve(ok.astype(float), np.ones(n_h), mode="valid") > n_h - 0.5
    return float(np.std(slopes[whole])) if whole.sum() >= 10 else float("nan")


def stayed_flat(x: pd.Series, mask: np.ndarray, since_utc, change_utc, step: float,
                min_h: int = 6, z: float = FLAT_Z) -> bool:
    """Whether a DMA's residual stayed flat from an earlier leak's change ``since_utc`` to a
    later rise's ``change_utc``: the rise over those hours that their least-squares line
    gives, plus ``z`` times the spread of such a line's slope on the leak-free hours
    (:func:`slope_spread`), is under half the later rise's ``step`` [L/s]. The
    :data:`FLAT_EDGE_H` hours after the one and before the other are left out: an hourly
    residual there holds part of a change dated to the detection step.

    A leak that grows raises its alarms one step at a time, its residual climbing about a
    step between them; a burst on a steady leak finds the residual flat. Where the hours
    are too few (under ``min_h``, or with a gap) or too noisy to tell the two apart, it is
    not flat.

    Parameters
    ----------
    x : Series
        hour: the DMA's corrected consumption residual [L/s].
    mask : ndarray of bool
        ``x``'s leak-free hours.
    since_utc, change_utc : Timestamp
        The earlier leak's latest change and the later rise's change.
    step : float
        The later rise [L/s].
    min_h : int
        Fewest hours between the left-out edges [h].
    z : float
        Spreads of the slope [-].
    """
    edge = FLAT_EDGE_H * HOUR
    sel = (x.index >= since_utc + edge) & (x.index < change_utc - edge)
    seg = x[sel]
    if len(seg) < max(min_h, 3) or seg.isna().any() or not np.isfinite(step) or step <= 0:
        return False
    spread = slope_spread(x, mask, len(seg))
    if not np.isfinite(spread):
        return False
    slope = float(_slope_weights(len(seg)) @ seg.to_numpy(dtype=float))
    return (slope + z * spread) * ((change_utc - since_utc) / HOUR) < 0.5 * step


def _detect_consumption(residual: pd.DataFrame, expected: pd.DataFrame,
                        ramp: pd.DataFrame | None, ops: pd.Series, step: pd.Timedelta,
                        r_h: pd.DataFrame, q_h: pd.DataFrame, mask_h: np.ndarray,
                        ops_h: np.ndarray, base_end: pd.Timestamp, robust: bool,
                        base_p: rs.Baseline, s: LeakSettings,
                        pressure_fall: pd.DataFrame | None = None):
    """The DMAs' consumption changes: together at ``step`` (the common mode out,
    :func:`twin.water.leak_detection.joint_cusum`), or each alone hourly where the noise
    its CUSUM sums is lower that way (median over DMAs, per hour).

    On CTOWN (tanks filled and emptied by pumps, the storage rate read from levels)
    together found 21/24 leaks in their DMA (abrupt delay 4.9 h) and 9/24 within 300 m,
    alone 23/24 (6.5 h) and 12/24 (at 4d4a17f); on KL alone 21/24 and together 22/24
    (``benchmarks/bench_leaks.py``, 3 seeds of 70 days). With the tanks' level noise
    filtered out (:func:`twin.water.leak_residuals.mass_balance_filter`) CTOWN's noise is
    the same either way over 6-h blocks (2.1-2.6 L/s per √h, within 5 % of each other on
    each of seeds 0-2, where the blocks tell apart 10 %), and together is chosen: on the
    filter's first version each alone detected 22/24 with an abrupt delay of 5.8 h,
    together 21/24 and 3.9 h.

    Together, with ``s.burst_test``, the burst test runs beside the joint CUSUM on the
    same residual (:func:`twin.water.leak_detection.burst_crossings`, calibrated on the
    leak-free steps with the same false-alarm budget and the innovations' spread by
    expected consumption; both read without the steps that carry another DMA's change not
    yet found or its new level while it is read,
    :func:`twin.water.leak_detection.mirror_spans`), a crossing kept only where its
    DMA's loggers fell with it (``pressure_fall``, SCADA step × DMA: the DMA's loggers'
    pressure residual less what all loggers share [m],
    :func:`twin.water.leak_detection.burst_pressure_falls`); its crossings change none of
    the CUSUM's changes.

    Returns
    -------
    (DataFrame, DataFrame, DataFrame, str, DataFrame)
        The changes (:func:`twin.water.leak_detection.detect_joint`'s columns, alarms
        stamped at the end of their step), the hourly residual location reads (time ×
        DMA) [L/s], the calibration table, a note ('' when together), and the burst
        test's crossings (empty when off or each DMA alone).
    """
    min_leak = s.min_leak_m3h * M3H_L_S
    arl_h = 730.0 / max(s.false_alarms_per_month, 1e-6)  # hours between false alarms [h]
    e_d, base_c, ops_d, mask_d = _detection_residuals(residual, expected, ramp, ops, step,
                                                      base_end, robust)
    n_h = step / HOUR
    # the innovations' spread by bins of expected consumption (demand noise grows with
    # demand): on the bench, found 9 to 10/24, alarms with no open leak 0.43 to 0.24
    q_d = rs.step_means(expected, step).reindex(e_d.index)
    joint = det.calibrate_joint(e_d, mask_d, min_leak, arl_h / n_h,
                                max(1, int(round(s.rebase_h / n_h))), step.total_seconds(),
                                load=q_d)
    xc = {d: rs.regressors(q_h[[d]], pressure=False) for d in r_h.columns}
    base_h = rs.fit_baseline(r_h, xc, mask_h, robust=robust)
    e_h = rs.corrected(r_h, xc, base_h)
    alone = {d: det.calibrate(float(base_h.sigma.get(d, np.nan)),
                              float(base_h.rho.get(d, 0.0)), min_leak, arl_h, s.rebase_h)
             for d in r_h.columns}
    noise_together = float(np.nanmedian(joint.sigma_u / np.maximum(joint.gain, 1e-3)
                                        * np.sqrt(n_h)))
    noise_alone, margin = _noise_alone(e_h, mask_h, alone)
    if noise_alone < noise_together * (1.0 - margin):
        changes = det.detect_changes(e_h, alone, mask=~ops_h)
        changes["alarm_utc"] = changes.alarm_utc + HOUR
        changes = changes.assign(rise=changes.step, explained_by=-1)
        note = (f"DMAs' consumption detected each alone, hourly: the noise the CUSUM sums "
                f"is {noise_alone:.2f} L/s per √h that way against {noise_together:.2f} "
                f"together at {n_h * 60:.0f} min")
        return changes, e_h, _calibration_table(_consumption_rows_alone(alone, base_h, s),
                                                base_h, base_p, "alone, hourly"), note, \
            pd.DataFrame(columns=list(det.BURST_COLUMNS))
    up_sums = np.zeros(e_d[joint.series].shape) if s.burst_test else None
    changes, e_joint = det.detect_joint(e_d, joint, mask=~ops_d, load=q_d, up_sums=up_sums)
    crossings = pd.DataFrame(columns=list(det.BURST_COLUMNS))
    if s.burst_test:
        # the steps that carry another DMA's change not yet found, or its new level while
        # it is read, are left out of the burst test (its calibration too: it reads the
        # same residual)
        e_burst = e_joint.mask(det.mirror_spans(changes, joint.common, joint.sigma_e,
                                                joint.series, e_joint.index, min_leak,
                                                joint.rebase))
        # read against the spread at the window's demand, as the CUSUM reads its
        # innovations (:func:`twin.water.leak_detection.window_spread`)
        spread = joint.scale(q_d[joint.series].to_numpy(dtype=float))
        burst = det.calibrate_burst(e_burst, mask_d, step.total_seconds(), min_leak, arl_h / n_h,
                                    scale=spread)
        crossings = det.burst_crossings(e_burst, burst, up_sums, scale=spread)
        p_d = (rs.step_means(pressure_fall, step).reindex(e_joint.index)
               if pressure_fall is not None else pd.DataFrame(index=e_joint.index))
        crossings = det.burst_pressure_falls(crossings, p_d, mask_d, burst.reference)
    # a step is labelled by its start; its alarm is known once the step is measured
    changes["alarm_utc"] = changes.alarm_utc + step
    # location sizes the leak on this hourly residual too: with the common mode out its
    # median error on the bench fell from 656 to 375 m (KL, 3 seeds of 70 days)
    e_c = rs.hourly(e_joint).reindex(r_h.index)
    return changes, e_c, _calibration_table(_consumption_rows_joint(joint, n_h, s), base_c,
                                            base_p, f"together, {n_h * 60:.0f} min"), "", \
        crossings


def _noise_alone(e_h: pd.DataFrame, mask_h: np.ndarray,
                 alone: dict[str, det.CusumSettings]) -> tuple[float, float]:
    """The noise each DMA's hourly CUSUM sums, measured as the joint detector's is: the
    spread of the leak-free hours' sums over blocks of :data:`twin.water.leak_detection.
    BLOCK_H` hours, per √h (median over DMAs) [L/s per √h]; and the relative standard
    error of that spread, ``1/√(2(n − 1))`` over ``n`` blocks [-], the margin by which
    it must be lower to be chosen.

    The lag-1 correction each hourly CUSUM is calibrated with, ``σ·√((1+ρ)/(1−ρ))``,
    misses the memory beyond one hour: on ``benchmarks/bench_leaks.py`` (CTOWN, seeds
    0-2, the storage rate differenced from noisy levels) it gave 1.7-2.2 L/s per √h where
    the blocks of the same residual gave 2.0-2.7, as the joint detector's 2.3-2.9. Where
    fewer than 4 blocks are leak-free, the hourly detectors' own figure, no margin.
    """
    block = max(2, int(round(det.BLOCK_H)))
    spread = [det.block_sigma(np.where(mask_h, e_h[d].to_numpy(dtype=float), np.nan), block)
              for d in e_h.columns]
    blocks = int(np.sum(mask_h)) // block
    if not np.isfinite(spread).any() or blocks < 4:
        return float(np.nanmedian([c.sigma for c in alone.values()])), 0.0
    return float(np.nanmedian(spread)), float(1.0 / np.sqrt(2.0 * (blocks - 1)))


def _detection_residuals(residual: pd.DataFrame, expected: pd.DataFrame,
                         ramp: pd.DataFrame | None, ops: pd.Series, step: pd.Timedelta,
                         base_end: pd.Timestamp, robust: bool):
    """Consumption residuals at the detection step less their baseline (a constant, the
    expected consumption and, below an hour, its within-hour ramp), NaN where the model's
    pumps did not run as measured; the baseline, the steps that ran as measured and the
    baseline's steps."""
    r_d = rs.step_means(residual, step)
    q_d = rs.step_means(expected, step).reindex(r_d.index)
    ramp_d = rs.step_means(ramp, step).reindex(r_d.index) if ramp is not None else None
    ops_d = (rs.step_means(ops.astype(float).to_frame(), step).iloc[:, 0].reindex(
        r_d.index).fillna(0) >= 0.999).to_numpy()
    mask = ops_d.copy() if robust else np.asarray(r_d.index < base_end) & ops_d
    x = {d: rs.regressors(q_d[[d]], pressure=False,
                          ramp_l_s=None if ramp_d is None else ramp_d[d]) for d in r_d.columns}
    base = rs.fit_baseline(r_d, x, mask, robust=robust)
    e = rs.corrected(r_d, x, base)
    e[~ops_d] = np.nan
    return e, base, ops_d, mask


def _consumption_rows_alone(cal: dict, base_c: rs.Baseline, s: LeakSettings) -> list[dict]:
    """The calibration rows of DMAs detected each alone, hourly."""
    return [{"series": d, "kind": "consumption", "sigma": base_c.sigma.get(d),
             "rho": base_c.rho.get(d), "sigma_common_out": base_c.sigma.get(d),
             "long_run_sigma": c.sigma, "k": c.k, "h": c.h,
             "mean_hours_between_false_alarms": c.target_arl, "step_h": 1.0,
             "min_leak_m3h": s.min_leak_m3h, "units": "L/s"} for d, c in cal.items()]


def _consumption_rows_joint(joint: det.JointSettings, step_h: float,
                            s: LeakSettings) -> list[dict]:
    """The calibration rows of DMAs detected together, every ``step_h`` hours."""
    return [{"series": c.series, "kind": "consumption", "sigma": c.sigma, "rho": c.rho,
             "sigma_common_out": c.sigma_common_out, "sigma_innovation": c.sigma_innovation,
             "ar_lags": c.ar_lags, "long_run_sigma": c.long_run_sigma, "k": c.k, "h": c.h,
             "mean_hours_between_false_alarms": c.mean_steps_between_false_alarms * step_h,
             "step_h": step_h, "min_leak_m3h": s.min_leak_m3h, "units": "L/s"}
            for c in joint.table().itertuples()]


def _calibration_table(consumption_rows: list[dict], base_c: rs.Baseline,
                       base_p: rs.Baseline, detection: str) -> pd.DataFrame:
    """The calibration of a run: the consumption rows, then each logger's pressure noise;
    the baseline's period and how the DMAs were detected in ``attrs``."""
    out = pd.DataFrame(consumption_rows + [
        {"series": lg, "kind": "pressure", "sigma": base_p.sigma[lg],
         "rho": base_p.rho.get(lg), "units": "m"} for lg in base_p.sigma.index])
    out.attrs.update({"baseline_start": str(base_c.start), "baseline_end": str(base_c.end),
                      "robust": base_c.robust, "detection": detection})
    return out


def score_report(report: LeakReport, truth_path: str | Path, net: LeakNetwork,
                 radius_m: float = 300.0) -> tuple[pd.DataFrame, dict]:
    """Score a run's new-leak alarms against a truth file, BattLeDIM's way.

    Leaks of the file that do not overlap the run's period are left out.

    Returns
    -------
    (DataFrame, dict)
        The alarms matched (:func:`twin.water.leak_scoring.match_alarms`) and the summary
        (:func:`twin.water.leak_scoring.score`).

    Raises
    ------
    twin.water.leak_scoring.TruthFileError
        A truth file that cannot be read; the message names its row and column.
    """
    from twin.water import leak_scoring as sc

    pipes = loc.pipe_table(net.wn)
    truth = sc.read_truth(truth_path, pipes, set(net.wn.junction_name_list))
    t = pd.DatetimeIndex(report.residuals.time.values).tz_localize("UTC")
    t0, t1 = t[0], t[-1] + pd.Timedelta(hours=1)
    truth = truth[(truth.end >= t0) & (truth.start < t1)].reset_index(drop=True)
    seg = sc.leak_segments(truth, net.node_xy, pipes)
    new = report.alarms[report.alarms.kind.isin(NEW_KINDS)]
    matched = sc.match_alarms(new, truth, seg, radius_m)
    months = (t1 - t0) / pd.Timedelta(days=sc.MONTH_DAYS)
    return matched, sc.score(matched, truth, months, len(report.residuals.dma))
