using Xunit;

namespace NativeZcopy.Tests.Support;

/// <summary>
/// Tests that read /proc/self/maps after an unmap run alone: a test running beside them could be handed
/// the just-unmapped addresses by the OS and make "unmapped" look false.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcMapsReaders
{
    public const string Name = "Reads /proc/self/maps";
}
