#!/usr/bin/env python3
"""bench/cg_groups.py CALLGRIND_OUT [N]: self cost (Ir) of a callgrind profile
by function and grouped by kind of work (the decoder's own code, Lua tables,
strings, GC, malloc, ...).  Used by bench/profile.sh."""
import sys, re, collections
names = {}
def resolve(kind, s):
    m = re.match(r'\((\d+)\)(?: (.*))?', s)
    if not m: return s
    k = (kind, m.group(1))
    if m.group(2): names[k] = m.group(2)
    return names.get(k, '?')
excl = collections.Counter()
fn = None; skip_next = False
for line in open(sys.argv[1]):
    line = line.rstrip('\n')
    if line.startswith('fn='): fn = resolve('fn', line[3:]); continue
    if line.startswith('cfn='): resolve('fn', line[4:]); continue
    if line.startswith(('fl=','fi=','fe=')): resolve('fl', line[3:]); continue
    if line.startswith('cfi=') or line.startswith('cfl='): resolve('fl', line[4:]); continue
    if line.startswith(('ob=','cob=')): continue
    if line.startswith('calls='): skip_next = True; continue
    if line and (line[0].isdigit() or line[0] in '+-*'):
        parts = line.split()
        if len(parts) >= 2:
            if skip_next: skip_next = False; continue
            excl[re.sub(r"'\d+$", "", fn)] += int(parts[1])
total = sum(excl.values())
groups = collections.Counter()
def cat(f):
    if re.search(r'^(parse_|read_|str_hash|key_hash|push_path|build|decoder_|nuon_|sweep_nulls|bridge_|match_|find_|warn|enum_|skip_|l_build)', f): return 'decoder/floor own code'
    if re.search(r'luaH_|mainposition|lua_rawset|lua_rawseti|lua_createtable|luaC_newobj|index2value|lua_rawgeti|getgeneric|insertkey|numusehash|computesizes|setnodevector|luaH', f): return 'Lua tables'
    if re.search(r'internshrstr|luaS_|lua_pushlstring|memcmp', f): return 'Lua strings'
    if re.search(r'propagatemark|singlestep|sweep|reallymark|atomic|luaC_|freeobj|traverse|GCTM|luaF_|clearby|luaE_|markold|youngcollection|entersweep|restartcollection|remarkupvals', f): return 'Lua GC'
    if re.search(r'malloc|free|realloc|l_alloc|luaM_|unlink_chunk|tcache', f): return 'malloc/free'
    if re.search(r'luaD_reallocstack|memcpy|memmove|memset|luaD_growstack', f): return 'stack growth/memcpy/memset'
    if re.search(r'^lua_', f): return 'Lua API misc'
    return 'other'
for f, v in excl.items(): groups[cat(f)] += v
print("total", total)
for g, v in groups.most_common(): print("%6.1f%%  %s" % (100.0*v/total, g))
print("-- top functions")
for f, v in excl.most_common(int(sys.argv[2]) if len(sys.argv) > 2 else 25): print("%6.1f%%  %12d  %s" % (100.0*v/total, v, f))
