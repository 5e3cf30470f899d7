using System.Net.Http.Headers;
using System.Text;
using Microsoft.Extensions.Options;

namespace ShopAstro.Grains.Downstream;

/// <summary>One attempt to deliver one event: a signed POST that counts as acknowledged on a 2xx within the timeout.</summary>
public sealed class DownstreamSender(IOptions<DownstreamOptions> options, TimeProvider time) : IDisposable
{
    // One client for every system: pooled connections, recycled so that a receiver's DNS change is seen.
    private readonly HttpClient _client = new(new SocketsHttpHandler
    {
        PooledConnectionLifetime = TimeSpan.FromMinutes(2),
        // A redirect is not an acknowledgement, and must not lead the silo elsewhere.
        AllowAutoRedirect = false,
        ConnectCallback = options.Value.AllowPrivateNetworks ? null : DownstreamAddresses.ConnectPublicAsync,
    })
    {
        Timeout = Timeout.InfiniteTimeSpan,
    };

    /// <summary>Null when acknowledged; otherwise why not (status or failure), for the row's last error.</summary>
    public async Task<string?> SendAsync(DownstreamEndpoint endpoint, string eventId, string body, CancellationToken cancellationToken)
    {
        var timestamp = time.GetUtcNow().ToUnixTimeSeconds();
        using var request = new HttpRequestMessage(HttpMethod.Post, endpoint.Url)
        {
            Content = new StringContent(body, Encoding.UTF8, new MediaTypeHeaderValue("application/json")),
        };
        request.Headers.Add(WebhookSignature.EventIdHeader, eventId);
        request.Headers.Add(WebhookSignature.TimestampHeader, timestamp.ToString(System.Globalization.CultureInfo.InvariantCulture));
        request.Headers.Add(WebhookSignature.SignatureHeader, WebhookSignature.Sign(endpoint.Secret, timestamp, body));
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.Value.DeliveryTimeout);
        try
        {
            using var response = await _client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            return response.IsSuccessStatusCode ? null : $"HTTP {(int)response.StatusCode}";
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return $"no answer within {options.Value.DeliveryTimeout}";
        }
        catch (HttpRequestException exception)
        {
            for (Exception? cause = exception; cause is not null; cause = cause.InnerException)
            {
                if (cause is DownstreamAddresses.PrivateAddressException refused)
                {
                    return refused.Message;
                }
            }

            return exception.HttpRequestError.ToString();
        }
    }

    public void Dispose() => _client.Dispose();
}
