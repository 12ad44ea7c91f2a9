using System;
using System.IO;

namespace NativeZcopy.Bench.Reporting;

/// <summary>Where the repository's docs/ folder is, found from the working directory or the binary.</summary>
internal static class RepositoryPaths
{
    /// <summary>The docs/ folder of the repository holding NativeZcopy.sln, or null when none is found.</summary>
    public static string? DocsDirectory()
    {
        foreach (string start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
        {
            for (DirectoryInfo? directory = new(start); directory is not null; directory = directory.Parent)
            {
                if (File.Exists(Path.Combine(directory.FullName, "NativeZcopy.sln")))
                {
                    return Path.Combine(directory.FullName, "docs");
                }
            }
        }

        return null;
    }
}
