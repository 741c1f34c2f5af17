"""Image the ALMA demo dataset: tclean -> exportfits. Written by `arcade-hub datasets demo`.

Run it with the CASA the dataset was written with, from anywhere (the dataset is read-only;
the images go to OUTDIR, by default ~/alma-demo-images):
    casa-6.7.0 --python reduce.py [OUTDIR]         # a terminal or a batch job
    exec(open("/datasets/alma-demo/reduce.py").read())   # at a CASA prompt or in a notebook
"""

import os
import sys

from casatasks import exportfits, tclean

HERE = os.path.dirname(os.path.abspath(globals().get("__file__") or sys.argv[0]))
VIS = os.path.join(HERE, "alma-demo.ms")
HOME = os.environ.get("ARCADE_HOME") or os.path.expanduser("~")
OUT = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(HOME, "alma-demo-images"))

os.makedirs(OUT, exist_ok=True)
image = os.path.join(OUT, "alma-demo")
for suffix in (".image", ".model", ".psf", ".residual", ".pb", ".sumwt", ".mask"):
    if os.path.exists(image + suffix):
        import shutil

        shutil.rmtree(image + suffix)

# 128 x 128 pixels of 0.3": the primary beam of a 12 m antenna at 230 GHz (about 25")
# with room around it, and about 6 pixels across the synthesized beam of this configuration.
tclean(
    vis=VIS,
    imagename=image,
    specmode="mfs",
    imsize=[128, 128],
    cell="0.3arcsec",
    gridder="standard",
    deconvolver="hogbom",
    weighting="briggs",
    robust=0.5,
    niter=2000,
    threshold="10mJy",
    savemodel="none",
)
fits = image + ".fits"
exportfits(imagename=image + ".image", fitsimage=fits, overwrite=True)
print("wrote", fits)
