c.IPControllerApp.reuse_files = True
c.RegistrationFactory.ip = u'*'
