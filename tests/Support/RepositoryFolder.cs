using System;
using System.IO;

namespace NativeZcopy.Tests.Support;

/// <summary>The checkout the tests were built from, for tests that build or read its projects.</summary>
internal static class RepositoryFolder
{
    /// <summary>The folder holding src/NativeZcopy.csproj, found upwards from the test assembly.</summary>
    public static string Root()
    {
        for (DirectoryInfo? folder = new(AppContext.BaseDirectory); folder is not null; folder = folder.Parent)
        {
            if (File.Exists(Path.Combine(folder.FullName, "src", "NativeZcopy.csproj")))
            {
                return folder.FullName;
            }
        }

        throw new InvalidOperationException($"No src/NativeZcopy.csproj above {AppContext.BaseDirectory}.");
    }
}
