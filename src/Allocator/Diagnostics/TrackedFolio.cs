using System.Collections.Generic;

namespace NativeZcopy.Diagnostics;

/// <summary>
/// The recorded fragments of one life of one tracked folio, in offset order, so any address inside the
/// folio finds its fragment by binary search. Owned by the tracker's lock.
/// </summary>
/// <remarks>
/// An arena cuts a folio life's fragments in increasing offsets, so records nearly always append; two
/// threads on one arena may record out of order, and then the record is inserted in place. Released
/// records stay (with no refs) until the whole life is released, so a second release of one is found
/// and refused rather than mistaken for a neighbour.
/// </remarks>
internal sealed class TrackedFolio
{
    /// <summary>Records by offset.</summary>
    private readonly List<FragmentRecord> _records = [];

    /// <summary>Creates the record list of the folio life <paramref name="generation"/>.</summary>
    public TrackedFolio(uint generation) => Generation = generation;

    /// <summary>The folio life these records belong to.</summary>
    public uint Generation { get; }

    /// <summary>Records that still have refs.</summary>
    public int Live { get; set; }

    /// <summary>Every record, released ones included.</summary>
    public IReadOnlyList<FragmentRecord> Records => _records;

    /// <summary>Adds a fresh record in offset order.</summary>
    public void Add(FragmentRecord record)
    {
        int at = _records.Count;
        while (at > 0 && _records[at - 1].Fragment.Offset > record.Fragment.Offset)
        {
            at--;
        }

        _records.Insert(at, record);
        Live++;
    }

    /// <summary>The record whose bytes hold <paramref name="offset"/>, live or not; null when none does.</summary>
    public FragmentRecord? Find(int offset)
    {
        int low = 0;
        int high = _records.Count - 1;
        while (low <= high)
        {
            int middle = low + ((high - low) / 2);
            FragmentRecord record = _records[middle];
            if (offset < record.Fragment.Offset)
            {
                high = middle - 1;
            }
            else if (record.Covers(offset))
            {
                return record;
            }
            else
            {
                low = middle + 1;
            }
        }

        return null;
    }
}
