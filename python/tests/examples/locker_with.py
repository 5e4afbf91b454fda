import uuid
from pylocker import Locker

#  create a unique lock pass. This can be any string.
lpass = str(uuid.uuid1())

# create locker instance
FL = Locker(filePath=None, lockPass=lpass)

# acquire the lock
with FL as r:
    # r is a tuple of three items. the acquired result, the aquiring code and
    # a file descriptor fd. fd will always be None when filePath is None.
    # Otherwise fd can be a real opened file descriptor when acquired is
    # True. In this particular case fd is always None regardless whether
    # the lock was successfully acquired or not because filePath is None.
    acquired, code, fd  = r

    # check if acquired.
    if acquired:
        print("Lock acquired, in this if statement do whatever you want")
    else:
        print("Unable to acquire the lock. exit code %s"%code)

# no need to release anything because with statement takes care of that.
