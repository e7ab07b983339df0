using System.Buffers;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace MoeServe.Server.Api;

/// <summary>Reads a request body up to a byte limit: refuses a declared oversize length before reading, and stops reading at the limit otherwise.</summary>
public static class RequestBodyReader
{
    /// <summary>The body bytes, or 413 when it is over <paramref name="limit"/>.</summary>
    public static async Task<(byte[]? Body, ApiError? Error)> ReadAsync(HttpRequest request, long limit, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.ContentLength is { } declared && declared > limit)
        {
            return (null, ApiError.TooLarge(limit));
        }

        // Kestrel enforces the same limit for chunked bodies without a Content-Length.
        var sizeFeature = request.HttpContext.Features.Get<IHttpMaxRequestBodySizeFeature>();
        if (sizeFeature is { IsReadOnly: false })
        {
            sizeFeature.MaxRequestBodySize = limit;
        }

        var buffer = new ArrayBufferWriter<byte>((int)Math.Min(limit, request.ContentLength ?? 4096) + 1);
        try
        {
            while (true)
            {
                var memory = buffer.GetMemory(4096);
                var read = await request.Body.ReadAsync(memory, cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    break;
                }

                buffer.Advance(read);
                if (buffer.WrittenCount > limit)
                {
                    return (null, ApiError.TooLarge(limit));
                }
            }
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return (null, ApiError.TooLarge(limit));
        }

        return (buffer.WrittenSpan.ToArray(), null);
    }
}
