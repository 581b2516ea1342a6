"""``modelexport export-batch``: many exports in one command, in one process, in N worker processes or on Ray.

:mod:`.manifest` reads what to export; :mod:`.runner` exports one entry anywhere (it is what every scheduler
calls); :mod:`.record` decides what a second run skips; :mod:`.schedulers` hands entries to processes or Ray
tasks by their expected memory; :mod:`.report` draws the progress bar and the closing table and JSON.
"""
