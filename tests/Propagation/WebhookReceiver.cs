using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using ShopAstro.Grains.Downstream;

namespace ShopAstro.Tests.Propagation;

/// <summary>
/// A downstream system on a loopback Kestrel port, as a receiver would write one: it verifies every delivery's
/// signature and timestamp (a bad one is a 401 and is counted), records what it accepted, and answers as told:
/// 200, 500, or only after stalling longer than the sender's timeout.
/// </summary>
public sealed class WebhookReceiver : IAsyncDisposable
{
    public enum Mode
    {
        Acknowledge,
        Fail,
        Stall,
    }

    public sealed record Received(string EventId, JsonNode Body, long ReceivedAt, int Attempt);

    private readonly WebApplication _app;
    private readonly ConcurrentQueue<Received> _accepted = new();
    private readonly ConcurrentDictionary<string, int> _attempts = new();
    private int _badSignatures;

    private WebhookReceiver(WebApplication app, string secret)
    {
        _app = app;
        Secret = secret;
    }

    public string Secret { get; }

    public string Url { get; private set; } = "";

    /// <summary>How the next deliveries are answered.</summary>
    public volatile Mode Answer = Mode.Acknowledge;

    public TimeSpan StallFor { get; set; } = TimeSpan.FromSeconds(5);

    public int BadSignatures => Volatile.Read(ref _badSignatures);

    /// <summary>Every delivery attempt that carried a valid signature, whatever it was answered.</summary>
    public int Attempts => _attempts.Values.Sum();

    /// <summary>Deliveries answered 2xx, in the order they arrived (with repeats, if the sender repeated any).</summary>
    public IReadOnlyList<Received> Accepted => [.. _accepted];

    public static async Task<WebhookReceiver> StartAsync(string secret = "receiver-secret-0123456789")
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseKestrel().UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var receiver = new WebhookReceiver(app, secret);
        app.MapPost("/hook", receiver.HandleAsync);
        await app.StartAsync();
        receiver.Url = app.Urls.Single() + "/hook";
        return receiver;
    }

    /// <summary>Waits until <paramref name="done"/> holds of the accepted deliveries.</summary>
    public async Task<IReadOnlyList<Received>> WaitForAsync(Func<IReadOnlyList<Received>, bool> done, TimeSpan within)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(within.TotalSeconds * Stopwatch.Frequency);
        while (true)
        {
            var accepted = Accepted;
            if (done(accepted))
            {
                return accepted;
            }

            if (Stopwatch.GetTimestamp() > deadline)
            {
                Assert.Fail($"The receiver did not get what was expected within {within}; accepted: " +
                    string.Join(" | ", accepted.Select(a => a.Body.ToJsonString())) + $"; attempts {Attempts}, bad signatures {BadSignatures}");
            }

            await Task.Delay(20);
        }
    }

    private async Task<IResult> HandleAsync(HttpRequest request)
    {
        var receivedAt = Stopwatch.GetTimestamp();
        using var reader = new StreamReader(request.Body);
        var body = await reader.ReadToEndAsync();
        var eventId = request.Headers[WebhookSignature.EventIdHeader].ToString();
        if (!WebhookSignature.Verify(Secret, request.Headers[WebhookSignature.TimestampHeader], request.Headers[WebhookSignature.SignatureHeader],
                body, DateTimeOffset.UtcNow, TimeSpan.FromMinutes(5)))
        {
            Interlocked.Increment(ref _badSignatures);
            return Results.Unauthorized();
        }

        var json = JsonNode.Parse(body)!;
        Assert.Equal(eventId, json["id"]!.GetValue<string>());
        var attempt = _attempts.AddOrUpdate(eventId, 1, (_, n) => n + 1);
        switch (Answer)
        {
            case Mode.Fail:
                return Results.StatusCode(StatusCodes.Status503ServiceUnavailable);
            case Mode.Stall:
                await Task.Delay(StallFor, request.HttpContext.RequestAborted).ContinueWith(_ => { });
                return Results.Ok();
            default:
                _accepted.Enqueue(new Received(eventId, json, receivedAt, attempt));
                return Results.Ok();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
