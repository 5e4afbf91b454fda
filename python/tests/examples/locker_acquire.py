import uuid
from pylocker import Locker

#  create a unique lock pass. This can be any string.
lpass = str(uuid.uuid1())

# create locker instance.
FL = Locker(filePath=None, lockPass=lpass)

# try to acquire the lock
acquired, code = FL.acquire_lock()

# check if acquired.
if acquired:
    print("Lock acquired")
    print("In this if statement block I can do whatever I want before releasing the lock")
else:
    print("Unable to acquire the lock. exit code %s"%code)
    print("keep this block empty as the lock was not acquired")

# now release the lock.
FL.release_lock()
