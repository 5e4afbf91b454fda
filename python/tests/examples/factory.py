from pylocker import FACTORY

# create or get existing locker instance
# setting key as serverFile is good practice
# all other arguments will be used only if locker does not exist
# in factory and it must be created.
L0 = FACTORY(key='my_unique_locker_key', password='my_password', autoconnect=False)
L1 = FACTORY(key='my_unique_locker_key', password='another_password')

# verify that L0 is L1
print(L0 is L1)
print(L0.password, L1.password)
