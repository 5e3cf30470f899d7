using System.Runtime.InteropServices;
using System.Text;

namespace ShopAstro.Silo;

/// <summary>
/// Secrets the embedded default keeps in its data folder (the anonymisation key, the admin token). A new one is
/// written to a temporary file created with mode 0600 (owner read and write; nobody else can open it at any
/// moment), flushed, and only then linked to its name (link(2)), never replacing one that appeared meanwhile: a reader
/// never sees a partial or readable-by-others file, and processes starting together all end up with the same
/// secret, the first one written.
/// </summary>
public static class SecretFiles
{
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>The secret in <paramref name="path"/>, created with <paramref name="create"/> if the file does not exist.</summary>
    /// <param name="created">Whether this call created the file.</param>
    public static string ReadOrCreate(string path, Func<string> create, out bool created)
    {
        created = false;
        if (File.Exists(path))
        {
            return Read(path);
        }

        var folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(folder);
        var secret = create();
        var temporary = Path.Combine(folder, $".{Path.GetFileName(path)}.{Guid.NewGuid():N}.tmp");
        try
        {
            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
            if (!OperatingSystem.IsWindows())
            {
                options.UnixCreateMode = OwnerOnly;
            }

            using (var stream = new FileStream(temporary, options))
            {
                stream.Write(Encoding.UTF8.GetBytes(secret));
                stream.Flush(flushToDisk: true);
            }

            if (LinkNew(temporary, path))
            {
                created = true;
                return secret;
            }

            return Read(path);
        }
        finally
        {
            File.Delete(temporary);
        }
    }

    /// <summary>
    /// Gives the complete file its name unless the name exists: link(2) fails with EEXIST rather than replace it
    /// (File.Move without overwrite checks, then renames: two racing processes would both "win").
    /// </summary>
    private static bool LinkNew(string existing, string name)
    {
        if (OperatingSystem.IsWindows())
        {
            try
            {
                File.Move(existing, name, overwrite: false);
                return true;
            }
            catch (IOException) when (File.Exists(name))
            {
                return false;
            }
        }

        if (Link(existing, name) == 0)
        {
            return true;
        }

        var error = Marshal.GetLastPInvokeError();
        return error == EExist
            ? false
            : throw new IOException($"Could not create {name}: {Marshal.GetPInvokeErrorMessage(error)}.");
    }

    private const int EExist = 17;

    [DllImport("libc", EntryPoint = "link", SetLastError = true)]
    private static extern int Link([MarshalAs(UnmanagedType.LPUTF8Str)] string existing, [MarshalAs(UnmanagedType.LPUTF8Str)] string name);

    private static string Read(string path) => File.ReadAllText(path).Trim();
}
