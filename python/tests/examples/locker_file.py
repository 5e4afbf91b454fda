import uuid
from pylocker import Locker

#  create a unique lock pass. This can be any string.
lpass = str(uuid.uuid1())

# create locker instance.
FL = Locker(filePath='myfile.txt', lockPass=lpass, mode='w')

# acquire the lock
with FL as r:
    # get the result
    acquired, code, fd  = r

    # check if acquired.
    if fd is not None:
        fd.write("I have succesfuly acquired the lock !")

# no need to release anything or to close the file descriptor,
# with statement takes care of that. let's print fd and verify that.
print(fd)
