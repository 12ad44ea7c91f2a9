using System.Threading;

namespace NativeZcopy.Arenas;

/// <summary>
/// Folios whose last reference was dropped, kept mapped for reuse instead of unmapped: a fixed number of
/// slots per arena, lock-free. Empty (zero slots) under the default policy.
/// </summary>
/// <remarks>
/// <para>
/// A slot holds 0 or the side-table entry of one dead folio (count zero, still registered and mapped). An
/// entry is put in a slot only with a compare-and-swap from 0 and taken out only with an atomic swap to 0
/// (an exchange when any entry will do, a compare-and-swap from that entry when one folio is wanted back),
/// so each dead folio is in at most one slot and exactly one thread takes it out: whoever takes it owns
/// it outright (nobody else can reach a folio with no references). Entries carry the folio's generation
/// and a folio is reissued under a new one before it is used again, so a slot can never be confused with
/// an older life of the same descriptor.
/// </para>
/// <para>
/// A thread releasing a folio tries its own processor's arena's slots first, then the others; an arena
/// looking for a folio does the same. So the stash is one bounded pool with processor affinity, and a
/// folio released on another processor (a send completion on another thread) is still found.
/// </para>
/// </remarks>
internal sealed class FolioStash
{
    /// <summary>arenas x slotsPerArena entries; arena i owns the slice starting at i x slotsPerArena.</summary>
    private readonly long[] _slots;

    /// <summary>Slots each arena starts its search at.</summary>
    private readonly int _slotsPerArena;

    /// <summary>Creates a stash of <paramref name="slotsPerArena"/> slots for each of <paramref name="arenas"/> arenas.</summary>
    public FolioStash(int arenas, int slotsPerArena)
    {
        _slots = new long[arenas * slotsPerArena];
        _slotsPerArena = slotsPerArena;
    }

    /// <summary>
    /// Folios kept now, counted slot by slot: a racy snapshot for statistics and metrics, each slot read
    /// atomically, so the figure is always between 0 and the number of slots. The stash keeps no count of its
    /// own: a counter moved by a second atomic operation after the slot's could be read between the two, and
    /// read -1 when a pop's decrement came before the increment of the push it emptied (a review found that).
    /// </summary>
    public long Count
    {
        get
        {
            long[] slots = _slots;
            long count = 0;
            for (int slot = 0; slot < slots.Length; slot++)
            {
                if (Volatile.Read(ref slots[slot]) != 0)
                {
                    count++;
                }
            }

            return count;
        }
    }

    /// <summary>True when the stash has no slots at all (retention off).</summary>
    public bool IsDisabled => _slots.Length == 0;

    /// <summary>Puts a dead folio in a free slot, searching from <paramref name="arena"/>'s. False when full.</summary>
    public bool TryPush(int arena, long entry)
    {
        long[] slots = _slots;
        int start = StartFor(arena);
        for (int i = 0; i < slots.Length; i++)
        {
            int slot = (start + i) % slots.Length;
            if (Volatile.Read(ref slots[slot]) == 0 && Interlocked.CompareExchange(ref slots[slot], entry, 0) == 0)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Takes a specific entry back out if it is still there (it may have been taken already).</summary>
    public bool TryRemove(long entry)
    {
        long[] slots = _slots;
        for (int slot = 0; slot < slots.Length; slot++)
        {
            if (Volatile.Read(ref slots[slot]) == entry && Interlocked.CompareExchange(ref slots[slot], 0, entry) == entry)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>True when <paramref name="entry"/> sits in a slot now (a racy snapshot: for diagnostics).</summary>
    public bool Contains(long entry)
    {
        long[] slots = _slots;
        for (int slot = 0; slot < slots.Length; slot++)
        {
            if (Volatile.Read(ref slots[slot]) == entry)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Takes any dead folio, searching from <paramref name="arena"/>'s slots. Returns 0 when empty.</summary>
    public long TryPop(int arena)
    {
        long[] slots = _slots;
        int start = StartFor(arena);
        for (int i = 0; i < slots.Length; i++)
        {
            int slot = (start + i) % slots.Length;
            if (Volatile.Read(ref slots[slot]) != 0)
            {
                long entry = Interlocked.Exchange(ref slots[slot], 0);
                if (entry != 0)
                {
                    return entry;
                }
            }
        }

        return 0;
    }

    /// <summary>First slot of an arena's slice; any processor id maps onto some arena's slice.</summary>
    private int StartFor(int arena) => _slots.Length == 0 ? 0 : (int)((uint)arena % (uint)(_slots.Length / _slotsPerArena)) * _slotsPerArena;
}
