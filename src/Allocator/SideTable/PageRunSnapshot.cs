namespace NativeZcopy.SideTable;

/// <summary>One registered run as <see cref="PageSideTable.Verify"/> saw it.</summary>
/// <param name="Entry">The run's current entry, tracked bit included.</param>
/// <param name="Base">First byte of the mapping.</param>
/// <param name="Length">Mapped length in bytes.</param>
/// <param name="Count">Its reference count.</param>
/// <param name="Owner">Who gives it back to the OS.</param>
internal readonly record struct PageRunSnapshot(long Entry, nint Base, nuint Length, int Count, PageRunOwner Owner);
