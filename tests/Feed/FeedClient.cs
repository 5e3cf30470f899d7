using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.AspNetCore.Http.Connections;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.AspNetCore.TestHost;

namespace ShopAstro.Tests.Feed;

/// <summary>A dashboard's connection to the live feed, through the official .NET SignalR client.</summary>
public sealed class FeedClient : IAsyncDisposable
{
    public sealed record Received(string Type, JsonElement Payload, long ReceivedTimestamp)
    {
        public long Sequence => Payload.GetProperty("sequence").GetInt64();

        public string StoreId => Payload.GetProperty("storeId").GetString()!;
    }

    private readonly BlockingCollection<Received> _received = new();

    private FeedClient(HubConnection connection)
    {
        Connection = connection;
        foreach (var type in new[] { "consentChanged", "policyChanged", "policyScheduled", "statsChanged", "requestOverdue" })
        {
            connection.On<JsonElement>(type, payload => _received.Add(new Received(type, payload, System.Diagnostics.Stopwatch.GetTimestamp())));
        }
    }

    public HubConnection Connection { get; }

    /// <summary>Through an in-memory test server (long polling, as WebSockets need a real socket).</summary>
    public static FeedClient InMemory(TestServer server, string? token) => new(new HubConnectionBuilder()
        .WithUrl(new Uri(server.BaseAddress, "hubs/consent"), options =>
        {
            options.HttpMessageHandlerFactory = _ => server.CreateHandler();
            options.Transports = HttpTransportType.LongPolling;
            if (token is not null)
            {
                options.AccessTokenProvider = () => Task.FromResult<string?>(token);
            }
        })
        .Build());

    /// <summary>Over WebSockets to a real edge process, the token in the access_token query parameter.</summary>
    public static FeedClient Real(string baseUrl, string token) => new(new HubConnectionBuilder()
        .WithUrl(baseUrl + "/hubs/consent", options =>
        {
            options.Transports = HttpTransportType.WebSockets;
            options.SkipNegotiation = true;
            options.AccessTokenProvider = () => Task.FromResult<string?>(token);
        })
        .Build());

    public async Task<long> SubscribeAsync(string storeId)
    {
        if (Connection.State == HubConnectionState.Disconnected)
        {
            await Connection.StartAsync();
        }

        var result = await Connection.InvokeAsync<JsonElement>("Subscribe", storeId);
        return result.GetProperty("sequence").GetInt64();
    }

    /// <summary>The next message matching <paramref name="match"/>, skipping others; fails after <paramref name="timeout"/>.</summary>
    public Received Next(Func<Received, bool> match, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero || !_received.TryTake(out var message, left))
            {
                throw new TimeoutException($"No matching feed message within {timeout}.");
            }

            if (match(message))
            {
                return message;
            }
        }
    }

    public Received? TryNext(Func<Received, bool> match, TimeSpan timeout)
    {
        try
        {
            return Next(match, timeout);
        }
        catch (TimeoutException)
        {
            return null;
        }
    }

    public async ValueTask DisposeAsync() => await Connection.DisposeAsync();
}
