"""Check an image of the ALMA demo dataset against what was simulated (sky-model.json)."""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class DemoImage:
    peak_jy_per_beam: float
    simulated_jy: float
    offset_arcsec: float  # peak pixel to the simulated point source
    pixel_arcsec: float

    @property
    def flux_error(self) -> float:
        return abs(self.peak_jy_per_beam - self.simulated_jy) / self.simulated_jy


def measure(fits_path: Path, sky_model: Path) -> DemoImage:
    """The brightest pixel of the restored image (Jy/beam: a point source's flux) and its
    distance from the simulated point source."""
    from astropy import units as u
    from astropy.coordinates import SkyCoord
    from astropy.io import fits
    from astropy.wcs import WCS, FITSFixedWarning

    truth = json.loads(sky_model.read_text())["point"]
    with fits.open(fits_path) as hdus, warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        header = hdus[0].header
        assert header["BUNIT"].lower() == "jy/beam", header["BUNIT"]
        data = np.squeeze(hdus[0].data)
        wcs = WCS(header).celestial
    y, x = np.unravel_index(np.nanargmax(data), data.shape)
    peak = wcs.pixel_to_world(x, y)
    source = SkyCoord(truth["ra_deg"] * u.deg, truth["dec_deg"] * u.deg, frame="fk5")
    return DemoImage(
        peak_jy_per_beam=float(data[y, x]),
        simulated_jy=float(truth["flux_jy"]),
        offset_arcsec=float(source.separation(peak).arcsec),
        pixel_arcsec=abs(float(header["CDELT2"])) * 3600,
    )
