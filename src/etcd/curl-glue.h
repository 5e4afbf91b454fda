/* libcurl's multi interface on an sd-event loop: one io source per socket curl asks to watch, one
 * timer for curl's timeout, finished transfers handed back through their CurlTransfer. */
#pragma once

#include <curl/curl.h>
#include <systemd/sd-event.h>

typedef struct CurlGlue CurlGlue;
typedef struct CurlTransfer CurlTransfer;

/* Set as an easy handle's CURLOPT_PRIVATE; done is called from the event loop, never from inside a
 * libcurl callback, once the transfer finished (the handle is already removed from the multi). */
struct CurlTransfer {
        void (*done)(CurlTransfer *transfer, CURLcode result);
};

int curl_glue_new(sd_event *event, CurlGlue **ret);
/* Removes nothing: every easy handle must have been removed before. */
CurlGlue *curl_glue_free(CurlGlue *glue);

int curl_glue_add(CurlGlue *glue, CURL *easy);
void curl_glue_remove(CurlGlue *glue, CURL *easy);
