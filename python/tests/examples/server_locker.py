from pylocker import ServerLocker

# create locker instance.
L = ServerLocker(password='server_password')

# try to acquire the lock a single file path
acquired, lockId = L.acquire_lock('my_path')

# check if acquired.
if acquired:
    print("Lock acquired for 'my_path'")
    print("In this if statement block I can safely do whatever I want with 'my_path' before releasing the lock")
else:
    print("Unable to acquire the lock. exit code %s"%lockId)
    print("keep this block empty as the lock was not acquired")

# now release the lock.
L.release_lock(lockId)

# try to acquire the lock for multiple files
acquired, lockId = L.acquire_lock(('path_to_file1', 'path_to_file2', 'path_to_directory'))

# check if acquired.
if acquired:
    print("Lock acquired for all of 'path_to_file1', 'path_to_file2' and  'path_to_directory'")
else:
    print("Unable to acquire the lock. exit code %s"%lockId)
    print("keep this block empty as the lock was not acquired")

# now release the lock.
L.release_lock(lockId)
