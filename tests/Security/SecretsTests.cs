using System.Collections;
using System.Collections.Concurrent;
using System.Net;
using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using ShopAstro.EdgeApi.Auth;
using ShopAstro.Tests.Feed;
using ShopAstro.Tests.Infrastructure;
using Xunit.Abstractions;

namespace ShopAstro.Tests.Security;

/// <summary>
/// Credentials and client identifiers are not kept or written: the token registry holds only SHA-256 digests,
/// and the logs of a batch of requests carrying tokens, User-Agent, X-Forwarded-For and a client IP contain none of them.
/// </summary>
public sealed partial class SecretsTests(SqliteEdgeFixture fixture, ITestOutputHelper output) : IClassFixture<SqliteEdgeFixture>
{
    private static readonly string[] Tokens =
        [EdgeApiFactory.AdminToken, EdgeApiFactory.SellerS1Token, EdgeApiFactory.StorefrontS1Token, EdgeApiFactory.SellerS2Token];

    /// <summary>Credentials a client presented that are not configured: still secrets of someone.</summary>
    private const string WrongToken = "sa_wrong_canary_0d9f3b7e61a24c55";

    private const string UserAgent = "CanaryBrowser/9.9 (leak-canary-user-agent; X11)";
    private const string ForwardedIp = "203.0.113.195";
    private const string ClientIp = "127.0.0.1";
    private const string OtherClientIp = "198.51.100.77";

    [Fact]
    public void The_token_registry_keeps_only_32_byte_sha256_digests_never_a_token()
    {
        var registry = fixture.Factory.Services.GetRequiredService<TokenRegistry>();
        var digests = Tokens.Select(t => SHA256.HashData(Encoding.UTF8.GetBytes(t))).ToList();
        var found = new List<string>();
        var byteArrays = new List<byte[]>();
        Walk(registry, "registry", found, byteArrays, new HashSet<object>(ReferenceEqualityComparer.Instance), depth: 0);

        output.WriteLine(string.Join("\n", found));
        foreach (var line in found)
        {
            foreach (var token in Tokens)
            {
                Assert.False(line.Contains(token, StringComparison.Ordinal), $"A token in clear in the registry: {line}");
            }
        }

        Assert.Equal(Tokens.Length, byteArrays.Count);
        foreach (var bytes in byteArrays)
        {
            Assert.Equal(32, bytes.Length);
            Assert.Contains(digests, d => d.AsSpan().SequenceEqual(bytes));
            foreach (var token in Tokens)
            {
                Assert.False(Encoding.UTF8.GetString(bytes).Contains(token, StringComparison.Ordinal));
            }
        }

        Assert.Equal(Tokens.Length, registry.Count);
    }

    /// <summary>Every field reachable from the registry: strings and char arrays are listed; byte arrays are collected.</summary>
    private static void Walk(object? value, string path, List<string> found, List<byte[]> byteArrays, HashSet<object> seen, int depth)
    {
        if (value is null || depth > 12)
        {
            return;
        }

        var type = value.GetType();
        switch (value)
        {
            case string text:
                found.Add($"{path} = \"{text}\"");
                return;
            case char[] chars:
                found.Add($"{path} = char[] \"{new string(chars)}\"");
                return;
            case byte[] bytes:
                byteArrays.Add(bytes);
                found.Add($"{path} = byte[{bytes.Length}]");
                return;
            case Memory<byte> or ReadOnlyMemory<byte> or Memory<char> or ReadOnlyMemory<char>:
                found.Add($"{path} = {type.Name} (unexpected)");
                break;
        }

        if (type.IsPrimitive || type.IsEnum || value is Type or Delegate or MemberInfo)
        {
            return;
        }

        if (!type.IsValueType && !seen.Add(value))
        {
            return;
        }

        if (value is IEnumerable sequence)
        {
            var i = 0;
            foreach (var item in sequence)
            {
                Walk(item, $"{path}[{i++}]", found, byteArrays, seen, depth + 1);
            }

            if (type.IsArray || type.Namespace?.StartsWith("System.Collections", StringComparison.Ordinal) == true)
            {
                return;
            }
        }

        for (var t = type; t is not null && t != typeof(object); t = t.BaseType)
        {
            foreach (var field in t.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
            {
                Walk(field.GetValue(value), $"{path}.{field.Name}", found, byteArrays, seen, depth + 1);
            }
        }
    }

    // ---------------------------------------------------------------------------------------------------------

    [Fact]
    public async Task Logs_of_requests_with_tokens_user_agents_and_client_ips_contain_none_of_them()
    {
        var captured = await RunBatchAsync(verbose: false);
        output.WriteLine($"{captured.Count} log entries at the app's own levels; categories: " +
            string.Join(", ", captured.GroupBy(e => e.Category).Select(g => $"{g.Key}={g.Count()}")));
        var leaks = Leaks(captured);
        Assert.True(captured.Count > 0, "No log entry was captured: the capture does not work.");
        Assert.True(leaks.Count == 0, "Secrets or client identifiers in the logs:\n" + string.Join("\n", leaks.Take(30)));
    }

    [Fact]
    public async Task Logs_at_trace_level_for_every_category_contain_no_token_user_agent_or_client_ip()
    {
        // An operator raising every category to Trace (Logging:LogLevel:Default=Trace) to chase a problem.
        var captured = await RunBatchAsync(verbose: true);
        output.WriteLine($"{captured.Count} log entries at Trace; categories: " +
            string.Join(", ", captured.GroupBy(e => e.Category).Select(g => $"{g.Key}={g.Count()}")));
        var leaks = Leaks(captured);
        var summary = string.Join("\n", leaks.GroupBy(l => l[..l.IndexOf(':')]).Select(g => $"{g.Count()} x {g.Key}"));
        Assert.True(leaks.Count == 0, $"Secrets or client identifiers in the Trace logs ({leaks.Count}):\n{summary}\n" + string.Join("\n", leaks.DistinctBy(l => l[..l.IndexOf(':')]).Take(30)));
    }

    private static List<string> Leaks(IReadOnlyList<LogEntry> entries)
    {
        var secrets = Tokens.Append(WrongToken).Select(t => (Name: "a token", Value: t))
            .Append(("the User-Agent", UserAgent))
            .Append(("the forwarded IP", ForwardedIp))
            .Append(("the client IP", ClientIp))
            .Append(("the client IP", OtherClientIp))
            .ToList();
        var leaks = new List<string>();
        foreach (var entry in entries)
        {
            // Orleans names its silo, hosted client and system targets by endpoint and generation
            // (S127.0.0.1:port:generation, 127.0.0.1:port@generation): the cluster's address, not a client's.
            var text = SiloAddress().Replace(entry.Text, "<silo>");
            foreach (var (name, value) in secrets)
            {
                if (text.Contains(value, StringComparison.OrdinalIgnoreCase))
                {
                    leaks.Add($"{name} '{value}' in [{entry.Level}] {entry.Category}: {Shorten(entry.Text, 1200)}");
                }
            }
        }

        return leaks;
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"(?<![\d.])127\.0\.0\.1:\d+[:@]\d+")]
    private static partial System.Text.RegularExpressions.Regex SiloAddress();

    private static string Shorten(string value, int max) => value.Length <= max ? value : value[..max] + "...";

    /// <summary>
    /// A separate host (same database) with a capturing logger, and a middleware that gives each request the
    /// client IP it names, as Kestrel would; then a batch of requests: OK, refused (401, 403), bad (400, 404, 415),
    /// with tokens in the header, in the hub's access_token parameter and for the Orleans dashboard.
    /// </summary>
    private async Task<IReadOnlyList<LogEntry>> RunBatchAsync(bool verbose)
    {
        var capture = new CaptureProvider();
        await using var factory = fixture.Factory.WithWebHostBuilder(builder =>
        {
            builder.ConfigureLogging(logging =>
            {
                logging.AddProvider(capture);
            });
            if (verbose)
            {
                // As an operator would: configuration, not code.
                builder.UseSetting("Logging:LogLevel:Default", "Trace");
                builder.UseSetting("Logging:LogLevel:Microsoft.AspNetCore", "Trace");
                builder.UseSetting("Logging:LogLevel:Orleans", "Trace");
            }

            builder.ConfigureServices(services => services.AddSingleton<IStartupFilter>(new ClientIpStartupFilter()));
        });
        _ = factory.Server;
        var store = "sec-" + (verbose ? "trace" : "app");
        var admin = factory.CreateClient(new WebApplicationFactoryClientOptions { HandleCookies = false });
        await SendAsync(admin, HttpMethod.Put, $"/v1/stores/{store}/policy", EdgeApiFactory.AdminToken, SecurityRoutes.ValidBody(BodyKind.Policy, 1));
        capture.Clear();

        var client = factory.CreateClient(new WebApplicationFactoryClientOptions { HandleCookies = true });
        var calls = new List<(HttpMethod Method, string Path, string? Authorization, string? Body)>
        {
            (HttpMethod.Get, $"/v1/stores/{store}/subjects/u1/decisions?purpose=analytics&explain=true", "Bearer " + EdgeApiFactory.AdminToken, null),
            (HttpMethod.Put, $"/v1/stores/{store}/subjects/u1/consents", "Bearer " + EdgeApiFactory.AdminToken, SecurityRoutes.ValidBody(BodyKind.Consent)),
            (HttpMethod.Post, $"/v1/stores/{store}/decisions/batch", "Bearer " + EdgeApiFactory.AdminToken, SecurityRoutes.ValidBody(BodyKind.Batch)),
            (HttpMethod.Get, $"/v1/stores/{store}/subjects/u1", "Bearer " + EdgeApiFactory.AdminToken, null),
            (HttpMethod.Get, $"/v1/stores/s1/policy", "Bearer " + EdgeApiFactory.StorefrontS1Token, null),
            (HttpMethod.Get, $"/v1/stores/s1/stats", "Bearer " + EdgeApiFactory.SellerS1Token, null),
            (HttpMethod.Get, $"/v1/stores/s1/stats", "Bearer " + EdgeApiFactory.SellerS2Token, null),
            (HttpMethod.Get, $"/v1/stores/{store}/policy", "Bearer " + WrongToken, null),
            (HttpMethod.Get, $"/v1/stores/{store}/policy", "Basic " + WrongToken, null),
            (HttpMethod.Get, $"/v1/stores/{store}/policy", null, null),
            (HttpMethod.Put, $"/v1/stores/{store}/subjects/u1/consents", "Bearer " + EdgeApiFactory.AdminToken, "{\"purposes\":"),
            (HttpMethod.Put, $"/v1/stores/{store}/subjects/bad%20id/consents", "Bearer " + EdgeApiFactory.AdminToken, SecurityRoutes.ValidBody(BodyKind.Consent)),
            (HttpMethod.Get, $"/v1/stores/{store}/subjects/never", "Bearer " + EdgeApiFactory.AdminToken, null),
            (HttpMethod.Get, $"/v1/stores/{store}/policy?access_token={EdgeApiFactory.AdminToken}", null, null),
            (HttpMethod.Post, $"/hubs/consent/negotiate?negotiateVersion=1&access_token={EdgeApiFactory.SellerS1Token}", null, ""),
            (HttpMethod.Post, $"/hubs/consent/negotiate?negotiateVersion=1&access_token={WrongToken}", null, ""),
            (HttpMethod.Get, $"/orleans/?access_token={EdgeApiFactory.AdminToken}", null, null),
            (HttpMethod.Get, "/orleans/", null, null),
            (HttpMethod.Get, "/health/ready", null, null),
            (HttpMethod.Get, "/metrics", null, null),
            (HttpMethod.Get, "/dashboard/s1", null, null),
            (new HttpMethod("PATCH"), $"/v1/stores/{store}/policy", "Bearer " + EdgeApiFactory.AdminToken, "{}"),
        };

        var i = 0;
        foreach (var (method, path, authorization, body) in calls)
        {
            using var request = new HttpRequestMessage(method, path);
            request.Headers.TryAddWithoutValidation("User-Agent", UserAgent);
            request.Headers.TryAddWithoutValidation("X-Forwarded-For", ForwardedIp);
            request.Headers.TryAddWithoutValidation("X-Real-IP", ForwardedIp);
            request.Headers.TryAddWithoutValidation("Forwarded", $"for={ForwardedIp};proto=https");
            request.Headers.TryAddWithoutValidation(ClientIpStartupFilter.Header, i++ % 2 == 0 ? ClientIp : OtherClientIp);
            if (authorization is not null)
            {
                request.Headers.TryAddWithoutValidation("Authorization", authorization);
            }

            if (body is not null)
            {
                request.Content = SecurityRoutes.Json(body);
            }

            using var response = await client.SendAsync(request);
            output.WriteLine($"{method} {path.Split('?')[0]} -> {(int)response.StatusCode}");
        }

        // The live feed, with a token and a client IP, including a hub method that fails on the server.
        await using (var feed = FeedClient.InMemory(factory.Server, EdgeApiFactory.SellerS1Token))
        {
            await feed.SubscribeAsync("s1");
            await Assert.ThrowsAnyAsync<Exception>(() => feed.SubscribeAsync("s2"));
            try
            {
                await feed.Connection.InvokeAsync("Unsubscribe", (string?)null);
            }
            catch (Exception)
            {
                // Whether it fails or not, only its logs matter here.
            }
        }

        await using (var refused = FeedClient.InMemory(factory.Server, WrongToken))
        {
            await Assert.ThrowsAnyAsync<Exception>(() => refused.SubscribeAsync("s1"));
        }

        await Task.Delay(1500);
        return capture.Entries;
    }

    private static async Task SendAsync(HttpClient client, HttpMethod method, string path, string token, string? body)
    {
        using var request = new HttpRequestMessage(method, path);
        request.Headers.TryAddWithoutValidation("Authorization", "Bearer " + token);
        if (body is not null)
        {
            request.Content = SecurityRoutes.Json(body);
        }

        using var response = await client.SendAsync(request);
        Assert.True(response.IsSuccessStatusCode, $"{method} {path}: {(int)response.StatusCode}");
    }

    /// <summary>Gives the request the client IP named by a test header, as a real connection would have.</summary>
    private sealed class ClientIpStartupFilter : IStartupFilter
    {
        public const string Header = "X-Test-Connection-Ip";

        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            app.Use((context, nextMiddleware) =>
            {
                if (context.Request.Headers.TryGetValue(Header, out var ip) && IPAddress.TryParse(ip, out var address))
                {
                    context.Connection.RemoteIpAddress = address;
                    context.Connection.RemotePort = 50123;
                    context.Request.Headers.Remove(Header);
                }
                else
                {
                    context.Connection.RemoteIpAddress = IPAddress.Loopback;
                }

                return nextMiddleware(context);
            });
            next(app);
        };
    }

    public sealed record LogEntry(string Category, LogLevel Level, string Text);

    /// <summary>Keeps every entry with its message, exception, structured values and scopes.</summary>
    private sealed class CaptureProvider : ILoggerProvider, ISupportExternalScope
    {
        private readonly ConcurrentQueue<LogEntry> _entries = new();
        private IExternalScopeProvider _scopes = new LoggerExternalScopeProvider();

        public IReadOnlyList<LogEntry> Entries => _entries.ToArray();

        public void Clear() => _entries.Clear();

        public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

        public void SetScopeProvider(IExternalScopeProvider scopeProvider) => _scopes = scopeProvider;

        public void Dispose()
        {
        }

        private sealed class Logger(CaptureProvider provider, string category) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => provider._scopes.Push(state);

            public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                var text = new StringBuilder(formatter(state, exception));
                if (state is IEnumerable<KeyValuePair<string, object?>> values)
                {
                    foreach (var (key, value) in values)
                    {
                        text.Append(" | ").Append(key).Append('=').Append(value);
                    }
                }

                if (exception is not null)
                {
                    text.Append(" | exception: ").Append(exception);
                }

                provider._scopes.ForEachScope((scope, builder) =>
                {
                    builder.Append(" | scope: ").Append(scope);
                    if (scope is IEnumerable<KeyValuePair<string, object?>> pairs)
                    {
                        foreach (var (key, value) in pairs)
                        {
                            builder.Append(' ').Append(key).Append('=').Append(value);
                        }
                    }
                }, text);
                provider._entries.Enqueue(new LogEntry(category, logLevel, text.ToString()));
            }
        }
    }
}
