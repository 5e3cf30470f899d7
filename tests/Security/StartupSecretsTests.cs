using ShopAstro.Silo;
using ShopAstro.Silo.Storage;
using Microsoft.Extensions.Configuration;
using ShopAstro.Tests.Infrastructure;

namespace ShopAstro.Tests.Security;

/// <summary>
/// Secrets fail closed at start-up: a short, placeholder or malformed anonymisation key and a token configured twice
/// stop the start; the embedded default's key and token files are created with mode 0600, atomically, once.
/// </summary>
public sealed class StartupSecretsTests
{
    // ---------------------------------------------------------------- start-up checks

    public static TheoryData<string, string> BadKeys => new()
    {
        { "16 bytes", Convert.ToBase64String(new byte[16].Select((_, i) => (byte)(i + 1)).ToArray()) },
        { "32 zero bytes (the old compose placeholder)", Convert.ToBase64String(new byte[32]) },
        { "not base64", "change-me-anonymisation-key" },
    };

    [Theory]
    [MemberData(nameof(BadKeys))]
    public async Task A_short_placeholder_or_malformed_anonymisation_key_stops_the_start(string situation, string key)
    {
        await using var database = TestDatabase.Sqlite();
        await using var factory = new EdgeApiFactory(database.ConnectionString, new Dictionary<string, string?> { ["Consent:AnonymisationKey"] = key });

        var error = Assert.ThrowsAny<Exception>(() => factory.Server);

        Assert.True(Describe(error).Contains("Consent:AnonymisationKey", StringComparison.Ordinal), $"{situation}: {Describe(error)}");
    }

    [Fact]
    public async Task A_token_configured_twice_stops_the_start()
    {
        await using var database = TestDatabase.Sqlite();
        await using var factory = new EdgeApiFactory(database.ConnectionString, new Dictionary<string, string?>
        {
            ["Auth:Tokens:4:Token"] = EdgeApiFactory.StorefrontS1Token,
            ["Auth:Tokens:4:Role"] = "admin",
        });

        var error = Assert.ThrowsAny<Exception>(() => factory.Server);

        Assert.Contains("Auth:Tokens:4:Token is the same token as Auth:Tokens:2:Token", Describe(error), StringComparison.Ordinal);
        Assert.DoesNotContain(EdgeApiFactory.StorefrontS1Token, Describe(error), StringComparison.Ordinal);
    }

    // ---------------------------------------------------------------- key and token files

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public void Racing_first_starts_share_one_key_file_never_seen_partial_or_readable_by_others()
    {
        // Rounds of 8 first starts released together on one data folder, watched by a thread that looks at the key
        // file the moment it exists: its first sight must already be the whole key, owner-only.
        for (var round = 0; round < 25; round++)
        {
            var folder = Directory.CreateTempSubdirectory("shopastro-key-").FullName;
            try
            {
                var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
                {
                    ["ConnectionStrings:Consent"] = $"Data Source={Path.Combine(folder, "consent.db")}",
                }).Build();
                var store = ConsentStore.FromConfiguration(configuration);
                var file = Path.Combine(folder, "anonymisation.key");
                (UnixFileMode Mode, string Content)? firstSight = null;
                var watcher = new Thread(() =>
                {
                    var until = DateTime.UtcNow.AddSeconds(10);
                    while (firstSight is null && DateTime.UtcNow < until)
                    {
                        try
                        {
                            if (File.Exists(file))
                            {
                                var mode = File.GetUnixFileMode(file);
                                firstSight = (mode, File.ReadAllText(file).Trim());
                            }
                        }
                        catch (IOException)
                        {
                            // Gone between the two looks (a temporary name): look again.
                        }
                    }
                });
                watcher.Start();

                // Threads of their own, released together: pool threads would start one by one.
                using var start = new Barrier(8);
                var keys = new string[8];
                var threads = Enumerable.Range(0, keys.Length).Select(i => new Thread(() =>
                {
                    start.SignalAndWait();
                    keys[i] = AnonymisationKeys.EmbeddedDefault(configuration, store);
                })).ToList();
                threads.ForEach(thread => thread.Start());
                threads.ForEach(thread => thread.Join());
                watcher.Join();

                var stored = File.ReadAllText(file).Trim();
                Assert.All(keys, key => Assert.Equal(stored, key));
                Assert.Equal(32, Convert.FromBase64String(stored).Length);
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
                Assert.Equal((UnixFileMode.UserRead | UnixFileMode.UserWrite, stored), firstSight);
                Assert.Equal(["anonymisation.key"], Directory.GetFiles(folder).Select(Path.GetFileName));
            }
            finally
            {
                Directory.Delete(folder, recursive: true);
            }
        }
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public void A_secret_file_is_created_owner_only_and_an_existing_one_is_kept()
    {
        var folder = Directory.CreateTempSubdirectory("shopastro-secret-").FullName;
        try
        {
            var file = Path.Combine(folder, "admin-token");

            var first = SecretFiles.ReadOrCreate(file, () => "sa_admin_first", out var created);
            var second = SecretFiles.ReadOrCreate(file, () => "sa_admin_second", out var createdAgain);

            Assert.Equal(("sa_admin_first", true), (first, created));
            Assert.Equal(("sa_admin_first", false), (second, createdAgain));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
            Assert.Single(Directory.GetFiles(folder));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static string Describe(Exception error) =>
        error is AggregateException aggregate ? string.Join(" | ", aggregate.InnerExceptions.Select(Describe)) : error.Message + (error.InnerException is { } inner ? " | " + Describe(inner) : "");
}
