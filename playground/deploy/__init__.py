"""A trained policy outside training: play it in MJX, export it to a robot bundle, drive
plain MuJoCo with it through the serving shim (sim2sim). None of it builds a trainer."""
