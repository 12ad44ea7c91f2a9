using System;

namespace NativeZcopy;

/// <summary>
/// A fragment a tracking <see cref="ZcopyAllocator"/> handed out and that still holds a reference: what
/// <see cref="ZcopyAllocator.GetOutstandingFragments"/> lists and <see cref="ZcopyAllocator.FragmentLeaked"/>
/// reports.
/// </summary>
public sealed class OutstandingFragment
{
    internal OutstandingFragment(BioVec fragment, string allocationStackTrace, TimeSpan age, int references)
    {
        Fragment = fragment;
        AllocationStackTrace = allocationStackTrace;
        Age = age;
        References = references;
    }

    /// <summary>The fragment as <see cref="ZcopyAllocator.Alloc"/> returned it.</summary>
    public BioVec Fragment { get; }

    /// <summary>The stack of the thread that allocated it, at the allocation.</summary>
    public string AllocationStackTrace { get; }

    /// <summary>How long it had been outstanding when this snapshot was taken.</summary>
    public TimeSpan Age { get; }

    /// <summary>References its holders still have: one from the allocation plus one per unreleased Get.</summary>
    public int References { get; }

    /// <inheritdoc/>
    public override string ToString() =>
        $"{Fragment}, {References} reference(s), outstanding {Age}, allocated at:{Environment.NewLine}{AllocationStackTrace}";
}
