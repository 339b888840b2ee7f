# A function that misbehaves on request, for tests/supervisor/e2e_failures.sh: each case of
# "request gets a prompt, precise answer" and "clones never share secrets" (issue 15). The function
# file gives each case its own function name over this one image and snapshot.
#   {"case": "ok"}        a normal answer
#   {"case": "raise"}     raises ValueError("bad input")            -> function_error
#   {"case": "exit"}      os._exit(3)                               -> function_exited, status 3
#   {"case": "oom"}       allocates past the VM's memory            -> out_of_memory
#   {"case": "oversize"}  returns 10 MiB                            -> response_too_large
#   {"case": "spin"}      loops forever                             -> timeout
#   {"case": "random"}    os.urandom / random / uuid4 / secrets     -> differ across clones
#   {"case": "clock"}     time.time() and the restore count         -> the host's time after a restore
import os
import random
import secrets
import time
import uuid

RESTORES = [0]


def on_restore():
    RESTORES[0] += 1


def handle(request):
    case = request.get("case", "ok") if isinstance(request, dict) else "ok"
    if case == "raise":
        raise ValueError("bad input")
    if case == "exit":
        os._exit(3)
    if case == "oom":
        hog = []
        while True:
            hog.append(bytearray(16 * 1024 * 1024))
    if case == "oversize":
        return "x" * (10 * 1024 * 1024)
    if case == "spin":
        while True:
            pass
    if case == "random":
        return {"urandom": os.urandom(16).hex(), "random": random.random(), "uuid4": str(uuid.uuid4()),
                "token": secrets.token_hex(16)}
    if case == "clock":
        return {"time": time.time(), "restores": RESTORES[0]}
    return {"ok": case}
