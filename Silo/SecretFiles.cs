using System.Text;

namespace ShopAstro.Silo;

/// <summary>
/// Secrets the embedded default keeps in its data folder (the anonymisation key, the admin token). A new one is
/// written to a temporary file created with mode 0600 (owner read and write; nobody else can open it at any
/// moment), flushed, and only then linked to its name, without replacing one that appeared meanwhile: a reader
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

            try
            {
                // Without overwrite, a move is link + unlink on Unix: it fails if the name exists, never replaces it.
                File.Move(temporary, path, overwrite: false);
                created = true;
                return secret;
            }
            catch (IOException) when (File.Exists(path))
            {
                return Read(path);
            }
        }
        finally
        {
            File.Delete(temporary);
        }
    }

    private static string Read(string path) => File.ReadAllText(path).Trim();
}
