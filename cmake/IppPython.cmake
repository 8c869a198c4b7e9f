# The engine embeds Debian's CPython; pin the interpreter so a different python3 on PATH
# (pyenv, venv) is never picked up by accident.
set(IPP_PYTHON "/usr/bin/python3" CACHE FILEPATH "Interpreter the engine embeds and tests use")
set(Python_EXECUTABLE ${IPP_PYTHON})
set(PYTHON_EXECUTABLE ${IPP_PYTHON})
find_package(Python 3.11 EXACT REQUIRED COMPONENTS Interpreter Development.Embed)
find_package(pybind11 CONFIG REQUIRED)
