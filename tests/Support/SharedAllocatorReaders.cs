using Xunit;

namespace NativeZcopy.Tests.Support;

/// <summary>
/// Tests that read <see cref="ZcopyAllocator.Shared"/>'s statistics run alone: every other test may allocate
/// from the shared allocator, and its counts would then move for reasons of theirs.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SharedAllocatorReaders
{
    public const string Name = "Reads the shared allocator's statistics";
}
