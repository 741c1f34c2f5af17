"""Simulate a small ALMA 12 m observation into a MeasurementSet, with casatools itself.

Run by `arcade-hub datasets demo` with the Python of a CASA environment:
    python simulate_alma.py OUTDIR
It writes OUTDIR/alma-demo.ms (a point source at the phase centre plus an extended Gaussian,
4 channels at 230 GHz, thermal noise), OUTDIR/sky-model.json (what was simulated, for checking
an image against it) and records the CASA version in the MS HISTORY the way CASA tasks do
("version: <version> <description>"). Standalone: it imports only casatools and the stdlib.
"""

import json
import math
import os
import sys
from typing import Any

import casatools

MS_NAME = "alma-demo.ms"
CONFIG = "alma/simmos/alma.cycle10.1.cfg"  # ALMA 12 m array, most compact Cycle 10 configuration
ANTENNAS = 16  # of its 43 pads: enough uv coverage, a small MS
PHASE_CENTRE = ("15h00m00.000s", "-30d00m00.000s")
FREQ_GHZ = 230.0
CHANNELS = 4
CHANNEL_MHZ = 15.625
POINT = {"ra_offset_arcsec": 0.0, "dec_offset_arcsec": 0.0, "flux_jy": 1.0}
GAUSSIAN = {
    "ra_offset_arcsec": 6.0,
    "dec_offset_arcsec": 4.0,
    "flux_jy": 0.5,
    "major_arcsec": 4.0,
    "minor_arcsec": 2.5,
    "pa_deg": 30.0,
}
NOISE_JY = "0.5Jy"  # per visibility; about 3 mJy/beam in the image
INTEGRATION = "60s"
HOURS = 0.5  # centred on transit


Columns = tuple[list[float], list[float], list[float], list[float], list[str]]


def antenna_config(path: str) -> Columns:
    x, y, z, diam, pads = [], [], [], [], []
    with open(path) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            a, b, c, d, pad = line.split()[:5]
            x.append(float(a))
            y.append(float(b))
            z.append(float(c))
            diam.append(float(d))
            pads.append(pad)
    step = max(1, len(x) // ANTENNAS)
    keep = list(range(0, len(x), step))[:ANTENNAS]
    return (
        [x[i] for i in keep],
        [y[i] for i in keep],
        [z[i] for i in keep],
        [diam[i] for i in keep],
        [pads[i] for i in keep],
    )


def direction(ra_off: float, dec_off: float, me: Any, qa: Any) -> Any:
    centre = me.direction("J2000", PHASE_CENTRE[0], PHASE_CENTRE[1])
    dec = qa.add(centre["m1"], qa.quantity(dec_off, "arcsec"))
    cosd = qa.cos(dec)["value"]
    ra = qa.add(centre["m0"], qa.quantity(ra_off / cosd, "arcsec"))
    return me.direction("J2000", ra, dec)


def degrees(d: Any) -> dict[str, float]:
    return {
        "ra_deg": math.degrees(d["m0"]["value"]) % 360,
        "dec_deg": math.degrees(d["m1"]["value"]),
    }


def sky_model(model: str, me: Any, qa: Any) -> tuple[Any, Any]:
    """The component list: a point source and a Gaussian; their directions."""
    cl = casatools.componentlist()

    def fmt(d: Any) -> str:
        ra = qa.formxxx(d["m0"], format="hms", prec=4)
        return f"J2000 {ra} {qa.formxxx(d['m1'], format='dms', prec=3)}"

    point = direction(POINT["ra_offset_arcsec"], POINT["dec_offset_arcsec"], me, qa)
    blob = direction(GAUSSIAN["ra_offset_arcsec"], GAUSSIAN["dec_offset_arcsec"], me, qa)
    freq = f"{FREQ_GHZ}GHz"
    cl.addcomponent(dir=fmt(point), flux=POINT["flux_jy"], fluxunit="Jy", freq=freq, shape="point")
    cl.addcomponent(
        dir=fmt(blob),
        flux=GAUSSIAN["flux_jy"],
        fluxunit="Jy",
        freq=freq,
        shape="Gaussian",
        majoraxis=f"{GAUSSIAN['major_arcsec']}arcsec",
        minoraxis=f"{GAUSSIAN['minor_arcsec']}arcsec",
        positionangle=f"{GAUSSIAN['pa_deg']}deg",
    )
    cl.rename(model)
    cl.done()
    return point, blob


def observe(vis: str, model: str, me: Any) -> int:
    """Simulate the observation of `model` into `vis`, with noise; the number of antennas."""
    sm = casatools.simulator()
    x, y, z, diam, pads = antenna_config(casatools.ctsys.resolve(CONFIG))
    sm.open(vis)
    sm.setconfig(
        telescopename="ALMA",
        x=x,
        y=y,
        z=z,
        dishdiameter=diam,
        mount=["alt-az"],
        antname=[f"DA{40 + i}" for i in range(len(x))],
        padname=pads,
        coordsystem="local",
        referencelocation=me.observatory("ALMA"),
    )
    start = FREQ_GHZ - CHANNEL_MHZ / 1000 * (CHANNELS - 1) / 2
    sm.setspwindow(
        spwname="spw0",
        freq=f"{start}GHz",
        deltafreq=f"{CHANNEL_MHZ}MHz",
        freqresolution=f"{CHANNEL_MHZ}MHz",
        nchannels=CHANNELS,
        stokes="XX YY",
    )
    sm.setfeed(mode="perfect X Y", pol=[""])
    sm.setfield(
        sourcename="demo-source",
        sourcedirection=me.direction("J2000", PHASE_CENTRE[0], PHASE_CENTRE[1]),
    )
    sm.setlimits(shadowlimit=0.001, elevationlimit="8.0deg")
    sm.setauto(autocorrwt=0.0)
    sm.settimes(
        integrationtime=INTEGRATION,
        usehourangle=True,
        referencetime=me.epoch("UTC", "2024/06/01/00:00:00"),
    )
    half = f"{HOURS / 2 * 3600:.0f}s"
    sm.observe(sourcename="demo-source", spwname="spw0", starttime=f"-{half}", stoptime=half)
    sm.setdata()
    sm.predict(complist=model)
    sm.setseed(seed=11)
    sm.setnoise(mode="simplenoise", simplenoise=NOISE_JY)
    sm.corrupt()
    sm.done()
    return len(x)


def record_history(vis: str, antennas: int) -> str:
    """Write the CASA version into the MS HISTORY, as CASA's tasks do; return it."""
    ms = casatools.ms()
    version = casatools.ctsys.version_string()
    ms.open(vis, nomodify=False)
    ms.writehistory_batch(
        messages=[
            "taskname=arcade_demo",
            f"version: {version} {casatools.ctsys.version_desc()}",
            f'config      = "{CONFIG}"',
            f"antennas    = {antennas}",
        ],
        origin="arcade_demo",
        app="casatools",
    )
    ms.close()
    return version


def main(outdir: str) -> None:
    me, qa = casatools.measures(), casatools.quanta()
    os.makedirs(outdir, exist_ok=True)
    vis = os.path.join(outdir, MS_NAME)
    model = os.path.join(outdir, "sky-model.cl")
    for path in (vis, model):
        if os.path.exists(path):
            raise SystemExit(f"{path} exists; remove it first")
    point, blob = sky_model(model, me, qa)
    antennas = observe(vis, model, me)
    version = record_history(vis, antennas)
    with open(os.path.join(outdir, "sky-model.json"), "w") as f:
        json.dump(
            {
                "casa_version": version,
                "phase_centre": {"ra": PHASE_CENTRE[0], "dec": PHASE_CENTRE[1], "frame": "J2000"},
                "freq_ghz": FREQ_GHZ,
                "channels": CHANNELS,
                "channel_mhz": CHANNEL_MHZ,
                "antennas": antennas,
                "configuration": CONFIG,
                "noise_per_visibility": NOISE_JY,
                "point": {**POINT, **degrees(point)},
                "gaussian": {**GAUSSIAN, **degrees(blob)},
            },
            f,
            indent=1,
        )
    print(vis, version)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".")
