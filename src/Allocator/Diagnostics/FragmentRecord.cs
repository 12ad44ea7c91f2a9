using System.Diagnostics;

namespace NativeZcopy.Diagnostics;

/// <summary>What a <see cref="FragmentTracker"/> knows about one fragment it recorded.</summary>
/// <remarks>
/// <see cref="Fragment"/>, <see cref="AllocationStackTrace"/> and <see cref="AllocatedAt"/> are written
/// once, before the record is published under the tracker's lock; <see cref="Refs"/> and
/// <see cref="LeakReported"/> are owned by that lock.
/// </remarks>
internal sealed class FragmentRecord
{
    /// <summary>The stack as captured; formatted only when someone asks (formatting costs far more than the walk).</summary>
    private readonly StackTrace _stack;

    /// <summary>The formatted stack, once asked for. Benign race: two threads may format it both, identically.</summary>
    private string? _formatted;

    /// <summary>Creates the record of a fragment just cut, holding its one reference.</summary>
    public FragmentRecord(BioVec fragment, StackTrace allocationStack, long allocatedAt)
    {
        Fragment = fragment;
        _stack = allocationStack;
        AllocatedAt = allocatedAt;
        Refs = 1;
    }

    /// <summary>The fragment as it was handed out.</summary>
    public BioVec Fragment { get; }

    /// <summary>Where it was allocated.</summary>
    public string AllocationStackTrace => _formatted ??= _stack.ToString();

    /// <summary>When it was allocated, in <see cref="System.Diagnostics.Stopwatch"/> ticks.</summary>
    public long AllocatedAt { get; }

    /// <summary>References its holders still have: one from the allocation plus one per extra Get.</summary>
    public int Refs { get; set; }

    /// <summary>True once the fragment was reported as leaked, so it is reported once.</summary>
    public bool LeakReported { get; set; }

    /// <summary>True when <paramref name="offset"/> (from the folio base) lies in the fragment.</summary>
    public bool Covers(int offset) => offset >= Fragment.Offset && offset < Fragment.Offset + Fragment.Length;
}
