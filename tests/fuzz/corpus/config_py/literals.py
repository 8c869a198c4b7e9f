"""Every literal form the native reader understands.

Evaluated both natively and by Python in the tests; both must agree.
"""
# Configuration file for ipcontroller.

c = get_config()  # noqa

#------------------------------------------------------------------------------
# Strings
#------------------------------------------------------------------------------
c.S.single = 'single'
c.S.double = "double"
c.S.unicode_prefix = u'*'
c.S.raw = r'C:\path\n'
c.S.raw_quote = r'it\'s'
c.S.escapes = 'tab\there\nnl \\ \' \" \x41\101\u00e9\U0001F600 \q'
c.S.bytes_utf8 = b'key\x41'
c.S.bytes_binary = b'\xff\x00'
c.S.triple = '''line one
line "two"'''
c.S.triple_double = """a 'b' ""c"" """
c.S.concatenated = ('part one, '
                    "part two, "  # a comment between the parts
                    'part three')
c.S.implicit = 'a' 'b'
c.S.continued = 'x\
y'
c.S.non_ascii = 'héllo wörld ✓'
c.S.empty = ''
c.S.hash_inside = 'not # a comment'

# Numbers and constants
c.N.int = 42
c.N.negative = -7
c.N.plus = +3
c.N.hex = 0xff
c.N.octal = 0o17
c.N.binary = 0b101
c.N.underscore = 1_000_000
c.N.zero = 0
c.N.float = 1.5
c.N.exp = 1e3
c.N.neg_float = -0.25
c.N.dot_float = .5
c.N.yes = True
c.N.no = False
c.N.none = None

# Containers
c.C.list = [1, 'two', 3.0, None, True]
c.C.empty_list = []
c.C.tuple = ('a', 'b')
c.C.one_tuple = (1,)
c.C.empty_tuple = ()
c.C.bare_tuple = 1, 2
c.C.parenthesised = (5)
c.C.dict = {'host1' : 3, 'host2' : 3}
c.C.int_keys = {1: 'one', 2: 'two'}
c.C.nested = {
    'hostA': {'n': 2, 'engine_args': ['--log-level=10', "--x"]},  # trailing comments
    'hostB': [1, [2, [3]]],
    'order_z': 1,
    'order_a': 2,
}
c.C.trailing_comma = [1, 2,]
c.C.multi_line = [
    '--foo',

    '--bar',
]
c.C.backslash = \
    [1, 2]
c.C.reassigned = 'first'
c.C.reassigned = 'second'; c.C.semicolon = 1;
pass
