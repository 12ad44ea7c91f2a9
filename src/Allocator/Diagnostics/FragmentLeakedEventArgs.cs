using System;

namespace NativeZcopy;

/// <summary>The argument of <see cref="ZcopyAllocator.FragmentLeaked"/>: one fragment reported as leaked.</summary>
public sealed class FragmentLeakedEventArgs : EventArgs
{
    /// <summary>Creates the report of <paramref name="fragment"/>.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="fragment"/> is null.</exception>
    public FragmentLeakedEventArgs(OutstandingFragment fragment)
    {
        ArgumentNullException.ThrowIfNull(fragment);
        Fragment = fragment;
    }

    /// <summary>The fragment, its allocation stack and its age.</summary>
    public OutstandingFragment Fragment { get; }
}
